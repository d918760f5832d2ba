"""Parsing the recorded mails of tests/email/corpus/: what agents see, what is kept, and
which mails are robots' or bounces. Pure functions, no servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.model import MAX_TEXT_BYTES
from channels.email.convert import agent_text, fit
from channels.email.htmltext import html_to_text
from channels.email.loops import automatic_reason, bounce_of
from channels.email.mime import ParsedEmail, msgids, parse
from channels.email.quotes import visible_text

CORPUS = Path(__file__).parent / "corpus"


def load(name: str) -> ParsedEmail:
    return parse((CORPUS / name).read_bytes())


def seen(name: str) -> str:
    parsed = load(name)
    return agent_text(parsed, new_thread=False, skipped=())


def test_outlook_reply_loses_its_history_and_keeps_the_answer() -> None:
    parsed = load("outlook_reply.eml")
    assert parsed.from_address == "maria.oliveira@contoso.pt"
    assert parsed.from_name == "Maria Oliveira"
    assert parsed.language == "pt-PT"
    assert parsed.in_reply_to == ("bridge.9f2c1d7a0b3e4c5d6e7f8a9b0c1d2e3f@example.com",)
    assert parsed.references[0] == "cust-first-1@contoso.pt"
    assert parsed.referenced[0] == parsed.in_reply_to[0]
    text = seen("outlook_reply.eml")
    assert "Ainda não recebi a encomenda" in text  # iso-8859-1 quoted-printable decoded
    assert "checking with the courier" not in text
    assert "Enviado:" not in text
    assert "____" not in text


def test_gmail_reply_with_a_wrapped_attribution_line() -> None:
    text = seen("gmail_reply.eml")
    assert text == (
        "Thanks! The reset link worked, I'm in now.\n\n"
        "One more thing: where do I change my e-mail address?"
    )


def test_apple_mail_reply_drops_the_mobile_footer_and_the_quote() -> None:
    parsed = load("apple_mail_reply.eml")
    assert parsed.message_id == "6F3B1E8A-2C4D-4E5F-9A0B-1C2D3E4F5A6B@icloud.com"
    assert seen("apple_mail_reply.eml") == (
        "Perfect, thank you — the refund shows up in my account."
    )


def test_russian_gmail_reply_in_windows_1251_with_a_koi8_subject() -> None:
    parsed = load("gmail_reply_ru.eml")
    assert parsed.subject == "Re: Не приходит код подтверждения [#1045]"
    assert parsed.from_name == "Иван Петров"
    assert parsed.language == "ru"
    text = seen("gmail_reply_ru.eml")
    assert text == "Здравствуйте!\n\nКод так и не пришёл, проверил папку «Спам»."


def test_a_forward_is_content_not_history() -> None:
    text = seen("forward_inline.eml")
    assert "this invoice charges me twice" in text
    assert "Forwarded message" in text
    assert "Total: 59.80 EUR" in text


def test_an_attached_forward_is_kept_whole_as_an_eml() -> None:
    parsed = load("forward_attached.eml")
    assert "parcel was returned to you" in parsed.text
    assert "could not be delivered" not in parsed.text
    [forwarded] = parsed.attachments
    assert forwarded.name == "Delivery notice 44120.eml"
    assert forwarded.content_type == "message/rfc822"
    assert b"Message-ID: <notice-44120@courier.example.net>" in forwarded.data
    # The forwarded courier notice is a robot's, but the mail around it is a person's.
    assert automatic_reason(parsed) is None
    assert bounce_of(parsed) is None


def test_multipart_related_html_with_an_inline_image_and_a_pdf() -> None:
    parsed = load("related_inline_image.eml")
    assert parsed.text.startswith("The mug arrived broken, see the photo:")
    assert "Order 7790. Can you send a new one?" in parsed.text
    names = [(a.name, a.content_type, a.inline) for a in parsed.attachments]
    assert names == [
        ("mug.png", "image/png", True),
        ("recibo nº 7790.pdf", "application/pdf", False),
    ]
    assert parsed.attachments[0].data.startswith(b"\x89PNG")
    assert parsed.attachments[1].data.startswith(b"%PDF")


def test_html_only_mail_becomes_safe_text() -> None:
    text = seen("html_only.eml")
    assert "alert" not in text
    assert "color:red" not in text
    assert "ignore me" not in text
    assert "<" not in text.replace("<support", "")
    assert "my parcel TRK-7781 has not moved for a week." in text
    assert "- Ordered: 1 June" in text
    assert "Tracking: here (https://track.example.net/TRK-7781)" in text
    assert "Thanks & regards,\nPat" in text


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("wrong_charset_latin1.eml", "Olá, a minha fatura está errada: cobraram 2× o envio."),
        ("wrong_charset_cyrillic.eml", "Добрый день. Прошу вернуть деньги за заказ 8812"),
        ("no_charset_8bit.eml", "Dzień dobry, zamówienie nr 991 nie dotarło."),
    ],
)
def test_wrong_or_missing_charsets_are_read_right(name: str, expected: str) -> None:
    assert expected in load(name).text


def test_headers_in_other_charsets_and_raw_8bit() -> None:
    assert load("wrong_charset_cyrillic.eml").subject == "Возврат денег"
    assert load("wrong_charset_cyrillic.eml").from_name == "Проверка"
    assert load("no_charset_8bit.eml").subject == "Zamówienie nie dotarło"
    assert load("no_charset_8bit.eml").from_name == "Łukasz Nowak"


def test_an_out_of_office_reply_is_flagged() -> None:
    assert automatic_reason(load("auto_reply.eml")) == "auto-submitted: auto-replied"
    assert bounce_of(load("auto_reply.eml")) is None


def test_a_dsn_bounce_names_our_message_and_the_reason() -> None:
    bounce = bounce_of(load("bounce_dsn.eml"))
    assert bounce is not None
    assert bounce.failed
    assert bounce.original_message_ids == ("bridge.deadbeefdeadbeefdeadbeefdeadbeef@example.com",)
    assert bounce.reason.startswith("5.1.1 smtp; 550 5.1.1 <nobody@contoso.pt>")
    assert "User unknown" in bounce.reason


def test_list_mail_and_other_robots_are_flagged() -> None:
    assert automatic_reason(load("list_post.eml")) == "precedence: list"
    assert automatic_reason(load("newsletter_reply_1.eml")) is None
    for header, reason in [
        ("Precedence: bulk", "precedence: bulk"),
        ("List-Id: <x.lists.example.com>", "mailing list (List-Id)"),
        ("Return-Path: <>", "empty Return-Path"),
        ("X-Auto-Response-Suppress: OOF", "X-Auto-Response-Suppress"),
        ("Auto-Submitted: auto-generated", "auto-submitted: auto-generated"),
    ]:
        raw = f"From: a@example.org\n{header}\nSubject: x\n\nhello\n".encode()
        assert automatic_reason(parse(raw)) == reason
    assert automatic_reason(parse(b"From: a@example.org\nAuto-Submitted: no\n\nhi\n")) is None
    for sender in ("no-reply@shop.example", "noreply+x@a.example", "MAILER-DAEMON@mx.example"):
        assert automatic_reason(parse(f"From: {sender}\n\nhi\n".encode())) is not None


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.eml")))
def test_every_mail_of_the_corpus_parses(name: str) -> None:
    parsed = load(name)
    text = agent_text(parsed, new_thread=True, skipped=())
    assert text.strip()
    assert parsed.message_id


def test_broken_mime_still_gives_text() -> None:
    parsed = load("broken_mime.eml")
    assert parsed.message_id == "broken-1@example.org"
    assert parsed.date is None
    assert parsed.subject.startswith("Hello world")
    assert "the app crashes when" in parsed.text
    assert seen("garbage.eml")


def test_a_missing_message_id_is_made_up_from_the_bytes() -> None:
    first = load("no_message_id.eml")
    assert first.message_id_missing
    assert first.message_id == load("no_message_id.eml").message_id
    other = parse((CORPUS / "no_message_id.eml").read_bytes() + b"more\n")
    assert other.message_id != first.message_id


def test_message_ids_without_brackets_and_noise() -> None:
    assert msgids("<a@b> <c@d>\n <e@f>") == ["a@b", "c@d", "e@f"]
    assert msgids("a@b") == ["a@b"]
    assert msgids("") == []


def test_signatures_are_cut_at_the_delimiter() -> None:
    assert visible_text("Hi there\n\n-- \nPat Smith\nACME Ltd") == "Hi there"
    assert visible_text("> only a quote") == "> only a quote"
    assert visible_text("Answer 1\n> question 2\nAnswer 2") == "Answer 1\nAnswer 2"


def test_prose_that_says_wrote_is_not_cut() -> None:
    text = "On Monday the courier wrote:\nthat the parcel is lost.\nPlease refund."
    assert visible_text(text) == text


def test_a_huge_text_is_cut_to_the_limit() -> None:
    text = fit("x" * (MAX_TEXT_BYTES + 10))
    assert len(text.encode()) <= MAX_TEXT_BYTES
    assert text.endswith("original.eml]")


def test_html_to_text_survives_broken_markup() -> None:
    assert html_to_text("<p>Hi <b>there</p></div></i>") == "Hi there"
    assert html_to_text("<div><script>x</div>") == ""
