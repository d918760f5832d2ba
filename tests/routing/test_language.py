from __future__ import annotations

import pytest

from routing.language import DEFAULT, SUPPORTED, choose, detect, from_accept_language, normalize


def test_supported_languages() -> None:
    assert SUPPORTED == ("en", "ru", "pt")
    assert DEFAULT == "en"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("pt-BR", "pt"),
        ("pt_PT", "pt"),
        ("pt", "pt"),
        ("ru_RU", "ru"),
        ("ru-RU", "ru"),
        ("ru_RU.UTF-8", "ru"),
        ("EN", "en"),
        ("en-US", "en"),
        ("en-gb", "en"),
        ("  pt-br  ", "pt"),
        ("de-DE", None),
        ("uk", None),
        ("es", None),
        ("zh-Hant-TW", None),
        ("", None),
        ("   ", None),
        (None, None),
        ("123", None),
        ("*", None),
        ("🇧🇷", None),
    ],
)
def test_normalize(tag: str | None, expected: str | None) -> None:
    assert normalize(tag) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-DE,de;q=0.9,pt-BR;q=0.8,en;q=0.5", "pt"),
        ("ru;q=0.5, en;q=0.9", "en"),
        ("en;q=0.3, ru", "ru"),  # no q means q=1
        ("pt, en", "pt"),  # ties keep the header's order
        ("en;q=0.8, ru;q=0.8", "en"),
        ("ru;q=0.8, en;q=0.8", "ru"),
        ("en;q=0, ru;q=0.1", "ru"),  # q=0 means "not acceptable"
        ("en;q=0", None),
        ("en;q=0.000", None),
        ("de-DE, fr;q=0.9", None),
        ("*", None),
        ("de, *;q=0.5", None),
        ("en;q=abc, ru;q=0.2", "ru"),  # a malformed entry is skipped
        ("en;q=1.5, ru;q=0.2", "ru"),  # so is an out-of-range one
        ("en;q=nan, ru;q=0.2", "ru"),
        ("  PT-br ; Q=0.7 , de", "pt"),
        (",,;q=1, en", "en"),
        ("", None),
        (None, None),
    ],
)
def test_from_accept_language(header: str | None, expected: str | None) -> None:
    assert from_accept_language(header) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi, I ordered a jacket last week and it still hasn't arrived. Can you help?", "en"),
        ("Hello, my payment went through twice, please refund one of them", "en"),
        ("Thanks!", "en"),
        ("Здравствуйте! Заказ до сих пор не пришёл, подскажите, пожалуйста, что случилось?", "ru"),
        ("не могу войти в аккаунт", "ru"),
        ("Спасибо, всё работает 👍", "ru"),
        ("Olá, meu pedido ainda não chegou. Vocês podem me ajudar?", "pt"),
        ("Bom dia! Preciso trocar o endereço de entrega, por favor.", "pt"),
        ("oi preciso de ajuda com meu pedido", "pt"),  # no accents at all
        ("Obrigada!", "pt"),
        ("Não recebi o código de confirmação", "pt"),
        ("Olá, tudo bem? Gostaria de saber o prazo de entrega.", "pt"),
    ],
)
def test_detect_real_sentences(text: str, expected: str) -> None:
    assert detect(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "ok",
        "OK!",
        "123",
        "#1042",
        "👍",
        "🙂🙂🙂",
        "?",
        "https://x.io/a1",
        "Danke schön, alles gut",  # German: unsupported
        "Hola, necesito ayuda con mi pedido, por favor",  # Spanish is not Portuguese
        "Bonjour, je n'ai pas reçu ma commande",  # French
        "Привіт, де моє замовлення?",  # Ukrainian is not Russian
        "Спасибо, thank you so much",  # mixed scripts, neither clearly
        "я",
    ],
)
def test_detect_is_unsure_on_short_or_ambiguous_texts(text: str) -> None:
    assert detect(text) is None


def test_detect_prefers_english_for_mostly_english_with_a_portuguese_word() -> None:
    assert detect("Hi, I need help with my pedido please") == "en"


@pytest.mark.parametrize(
    ("hint", "stored", "text", "expected"),
    [
        ("pt-BR", "ru", "Hello there, my order is late", "pt"),  # the platform's hint wins
        ("de", "ru_RU", "Hello there, my order is late", "ru"),  # unsupported hint: stored
        (None, "RU", "Hello there, my order is late", "ru"),
        ("", "", "Здравствуйте, где мой заказ?", "ru"),  # nothing known: guess from text
        (None, "fr", "Olá, meu pedido não chegou", "pt"),
        (None, None, "ok", "en"),  # nothing at all: the default
        (None, None, "", "en"),
        ("junk!!", "??", "👍", "en"),
    ],
)
def test_choose_precedence(hint: str | None, stored: str | None, text: str, expected: str) -> None:
    assert choose(hint=hint, stored=stored, text=text) == expected


def test_choose_text_defaults_to_empty() -> None:
    assert choose(hint=None, stored=None) == DEFAULT
