"""Telegram's pure conversions, on updates in the Bot API's shape (``updates/updates.json``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bridge.model import Attachment, ThreadRef
from channels.telegram.convert import (
    Command,
    Edited,
    Ignored,
    Incoming,
    Parsed,
    chat_of,
    parse_external_id,
    parse_update,
    read_update,
)
from channels.telegram.media import (
    FileRef,
    too_large_note,
)
from channels.telegram.splitting import (
    split_text,
    utf16_length,
)

UPDATES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "updates" / "updates.json").read_text()
)
AT = datetime.fromtimestamp(1767600000, UTC)
PRIVATE = ThreadRef("telegram", "default", "7001")
GROUP = -1001234567890


def parse(name: str, *, groups: bool = False) -> Parsed:
    update = read_update(UPDATES[name])
    return parse_update(update, account="default", groups=groups, bot_username="support_test_bot")


def incoming(name: str, **options: bool) -> Incoming:
    parsed = parse(name, **options)
    assert isinstance(parsed, Incoming), parsed
    return parsed


def test_a_private_text_becomes_a_message_of_the_chat_thread() -> None:
    message = incoming("private_text")
    assert message.thread == PRIVATE
    assert message.external_id == "7001:11"
    assert message.text == "Hello, my order #55 did not arrive"
    assert message.files == ()
    assert message.received_at == AT
    assert message.sender.name == "Ana Lima (@analima)"
    assert message.sender.language == "pt-br"
    inbound = message.inbound(message.text, ())
    assert inbound.sender_id == "7001"
    assert inbound.language == "pt-br"
    assert inbound.reply_to_external_id is None


def test_a_reply_names_the_message_it_answers() -> None:
    message = incoming("private_reply")
    assert message.inbound(message.text, ()).reply_to_external_id == "7001:12"


def test_photos_take_the_largest_size_and_keep_the_caption() -> None:
    message = incoming("photo_caption")
    assert message.text == "the broken box"
    assert message.placeholder == ""
    assert message.files == (FileRef("AgAD-large", "photo_14.jpg", "image/jpeg", 98765),)


def test_a_media_only_message_has_a_placeholder_and_its_files() -> None:
    photo = incoming("photo_only")
    assert (photo.text, photo.placeholder) == ("", "[photo]")
    stored = Attachment("photo_15.jpg", "image/jpeg", 5000, "k1")
    # A media-only message is a valid first message: the attachment is its body.
    assert photo.inbound(photo.placeholder, (stored,)).attachments == (stored,)


@pytest.mark.parametrize(
    ("name", "placeholder", "file"),
    [
        ("document", "[document: invoice.pdf]", ("invoice.pdf", "application/pdf", 34567)),
        ("voice", "[voice message, 0:12]", ("voice_17.ogg", "audio/ogg", 23000)),
        ("video_note", "[video message, 0:05]", ("video_note_19.mp4", "video/mp4", 90000)),
        ("audio", "[audio: Band - Song]", ("song.mp3", "audio/mpeg", 3000000)),
    ],
)
def test_files_of_every_kind_are_named_and_typed(
    name: str, placeholder: str, file: tuple[str, str, int]
) -> None:
    message = incoming(name)
    assert message.placeholder == placeholder
    assert [(f.name, f.content_type, f.size) for f in message.files] == [file]


def test_a_video_keeps_its_caption() -> None:
    message = incoming("video")
    assert message.text == "see"
    assert message.files[0].name == "video_18.mp4"


@pytest.mark.parametrize(
    ("name", "placeholder"),
    [
        ("sticker", "[sticker 😀]"),
        ("location", "[location 55.75, 37.61]"),
        ("venue", "[venue: Store, Rua Augusta 1 (38.7223, -9.1393)]"),
        ("contact", "[contact: Rui Costa, +351912345678]"),
        ("poll", "[poll: Which day?]"),
        ("dice", "[dice 🎲 4]"),
    ],
)
def test_kinds_agents_cannot_open_become_readable_placeholders(name: str, placeholder: str) -> None:
    message = incoming(name)
    assert message.files == ()
    assert message.placeholder == placeholder


def test_a_payload_newer_than_aiogram_keeps_the_message_and_names_what_it_dropped() -> None:
    message = incoming("poll_from_an_older_api")
    assert message.external_id == "7001:41"
    assert message.placeholder == "[unsupported message: poll]"
    with pytest.raises(ValidationError):
        read_update({"update_id": "x", "message": 5})


def test_an_edit_names_the_stored_message_and_keeps_the_edit_time() -> None:
    parsed = parse("edited_text")
    assert isinstance(parsed, Edited)
    assert parsed.edit.source == "telegram:default"
    assert parsed.edit.external_id == "7001:11"
    assert parsed.edit.text == "Hello, my order #56 did not arrive"
    assert parsed.edit.edited_at == datetime.fromtimestamp(1767600060, UTC)


def test_an_edited_caption_is_an_edit_of_the_text() -> None:
    parsed = parse("edited_caption")
    assert isinstance(parsed, Edited)
    assert parsed.edit.text == "the broken box, again"


def test_groups_are_ignored_unless_enabled_then_keyed_by_chat_and_member() -> None:
    assert isinstance(parse("group_text"), Ignored)
    message = incoming("group_text", groups=True)
    assert message.thread == ThreadRef("telegram", "default", f"{GROUP}:7002")
    assert message.external_id == f"{GROUP}:301"
    assert chat_of(message.thread.thread_key) == GROUP


def test_commands_are_recognised_with_or_without_this_bots_name() -> None:
    start = parse("start_payload")
    assert isinstance(start, Command)
    assert (start.name, start.argument, start.chat_id) == ("start", "ref-site", 7001)
    status = parse("group_status", groups=True)
    assert isinstance(status, Command)
    assert status.name == "status"
    assert status.thread.thread_key == f"{GROUP}:7002"
    help_ = parse("help_russian")
    assert isinstance(help_, Command)
    assert help_.sender.language == "ru"


def test_other_commands_are_just_text() -> None:
    assert incoming("other_bot_command").text == "/status@other_bot"
    assert incoming("unknown_command").text == "/refund now"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("new_members", "group"),  # groups off: ignored before anything else
        ("from_bot", "bot"),
        ("channel_post", "channel_post"),
        ("callback_query", "button this bridge did not send"),
        ("future_kind", "some_future_kind"),
        ("my_chat_member", "my_chat_member"),
        ("anonymous_admin", "without a sender"),
    ],
)
def test_what_is_not_a_customer_message_is_ignored_with_a_reason(name: str, reason: str) -> None:
    parsed = parse(name)
    assert isinstance(parsed, Ignored)
    assert reason in parsed.reason


def test_service_messages_in_enabled_groups_are_ignored() -> None:
    parsed = parse("new_members", groups=True)
    assert isinstance(parsed, Ignored)
    assert "new_chat_members" in parsed.reason


def test_external_ids_round_trip() -> None:
    assert parse_external_id("7001:11") == (7001, 11)
    assert parse_external_id(f"{GROUP}:5") == (GROUP, 5)
    with pytest.raises(ValueError, match="not a Telegram message id"):
        parse_external_id("webchat-17")


def test_too_large_notes_say_what_was_sent() -> None:
    assert too_large_note("movie.mp4", 25 * 1024 * 1024) == "[file too large: movie.mp4, 25.0 MB]"
    assert too_large_note("movie.mp4", None) == "[file too large: movie.mp4]"


# --- splitting ----------------------------------------------------------------------------


def test_short_texts_are_one_part() -> None:
    assert split_text("hello") == ["hello"]
    assert split_text("x" * 4096) == ["x" * 4096]


def test_long_texts_split_at_paragraphs_first() -> None:
    first = "a" * 3000
    second = "b" * 3000
    assert split_text(f"{first}\n\n{second}") == [first, second]


def test_then_at_lines_then_at_spaces_then_anywhere() -> None:
    line = "word " * 700  # 3,500 characters
    parts = split_text(f"{line.strip()}\n{line.strip()}")
    assert parts == [line.strip(), line.strip()]
    spaced = " ".join(["abcdefghi"] * 1000)  # 9,999 characters, no newline
    parts = split_text(spaced)
    assert all(len(p) <= 4096 for p in parts)
    assert " ".join(parts) == spaced
    assert all(not p.startswith(" ") and not p.endswith(" ") for p in parts)
    solid = "z" * 10_000
    assert split_text(solid) == ["z" * 4096, "z" * 4096, "z" * 1808]


def test_the_limit_counts_utf16_units_so_emoji_never_overflow_or_break() -> None:
    text = "😀" * 3000  # 6,000 UTF-16 units
    parts = split_text(text)
    assert [utf16_length(p) for p in parts] == [4096, 1904]
    assert "".join(parts) == text
