"""Which language to answer a customer in.

The acknowledgement goes out seconds after the first message, before any agent has seen the
conversation, so the choice has to be made from whatever is at hand, in this order of trust:
the platform's own hint (Telegram's ``language_code``, the widget's ``navigator.language``, an
email's ``Accept-Language``-like header), the language stored on the customer from earlier
conversations, a cheap guess from the text itself, and finally English.

The guess is deliberately timid: answering a Spanish or Ukrainian speaker in Portuguese or
Russian is worse than answering in English, so :func:`detect` says ``None`` unless the signals
are clear. No model, no network: the same text always gives the same answer.
"""

from __future__ import annotations

import re

from babel.core import parse_locale

#: The languages we have texts for. European and Brazilian Portuguese share "pt".
SUPPORTED = ("en", "ru", "pt")
DEFAULT = "en"

_WORD = re.compile(r"[^\W\d_]+")
_RUSSIAN_LETTERS = frozenset("абвгдеёжзийклмнопрстуфхцчшщъыьэюя")

# Portuguese signals with their weights. Two points make a guess; a strong word alone does,
# a word shared with Spanish ("pedido", "por favor") needs company.
_PT_STRONG_WORDS = frozenset(
    {"não", "nao", "obrigado", "obrigada", "olá", "você", "voce", "vocês", "preciso", "cadê"}
)
_PT_WEAK_WORDS = frozenset(
    {
        "pedido", "meu", "minha", "estou", "está", "tenho", "quero", "ajuda", "ainda",
        "compra", "entrega", "recebi", "posso", "consigo", "oi", "obg", "também", "chegou",
    }
)  # fmt: skip
_PT_STRONG_PHRASES = ("bom dia", "tudo bem")
_PT_WEAK_PHRASES = ("por favor", "boa tarde", "boa noite")
_PT_TILDES = frozenset("ãõ")
_PT_ACCENTS = frozenset("çáéêóôúàâí")

# Spanish is the language most easily mistaken for Portuguese by the signals above; when it
# looks at least as Spanish as Portuguese we do not guess at all.
_ES_WORDS = frozenset(
    {
        "hola", "gracias", "necesito", "ayuda", "mi", "usted", "quiero", "puedo", "tengo",
        "buenos", "buenas", "pero", "todavía", "todavia", "llegó", "llego", "qué", "cómo",
    }
)  # fmt: skip
_ES_LETTERS = frozenset("ñ¿¡")

# Distinctly English words: short words that are also Portuguese ("a", "do", "no", "me", "as")
# are left out so that they cannot tip an unaccented Portuguese text to English.
_EN_WORDS = frozenset(
    {
        "the", "and", "is", "are", "was", "were", "i", "you", "your", "my", "we", "our", "it",
        "this", "that", "have", "has", "had", "not", "can", "please", "help", "hello", "hi",
        "hey", "thanks", "thank", "order", "with", "for", "what", "where", "when", "why", "how",
        "would", "could", "should", "will", "need", "get", "got", "still", "yet", "been",
        "from", "about", "there", "here", "just", "want", "account", "payment", "refund",
        "received", "delivery", "of", "to", "in", "at", "be", "if", "but", "any", "good",
        "morning", "afternoon", "evening", "sorry", "yes", "arrived", "doesn", "don", "isn",
        "hasn", "haven", "didn", "won",
    }
)  # fmt: skip


def normalize(tag: str | None) -> str | None:
    """The supported language of a BCP 47 or POSIX tag ("pt-BR", "ru_RU.UTF-8", "EN").

    Only the primary language subtag matters: regional variants share one set of texts.
    """
    if not tag or not tag.strip():
        return None
    try:
        language = parse_locale(tag.strip().replace("-", "_"))[0]
    except ValueError:  # babel's word for junk: digits, empty parts, stray symbols
        return None
    return language if language in SUPPORTED else None


def from_accept_language(header: str | None) -> str | None:
    """The best supported language of an HTTP ``Accept-Language`` header.

    Ranges are ordered by their q-value (RFC 9110, section 12.5.4), equal weights keep the
    header's order, ``q=0`` means "not acceptable" and malformed entries are skipped. The
    wildcard gives no language: the caller's next source of truth should decide.
    """
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")):
        tag, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        try:
            for param in params:
                name, _, value = param.partition("=")
                if name.strip().lower() == "q":
                    quality = float(value)
        except ValueError:
            continue
        if not 0 < quality <= 1:  # also rejects nan
            continue
        language = normalize(tag)
        if language is not None:
            ranked.append((-quality, index, language))
    return min(ranked)[2] if ranked else None


def detect(text: str) -> str | None:
    """A cheap guess at the language of a customer's message, or ``None`` when unsure.

    Mostly-Cyrillic text is Russian unless it has letters Russian lacks (Ukrainian "і", "є",
    Serbian "ј", ...): a Ukrainian customer answered in Russian is worse off than one answered
    in English. Portuguese needs two points of evidence and must beat both English and
    Spanish; English needs ASCII letters only and common English words.
    """
    letters = [char for char in text.lower() if char.isalpha()]
    if len(letters) < 2:
        return None
    cyrillic = [char for char in letters if "\u0400" <= char <= "\u04ff"]
    if len(cyrillic) * 2 > len(letters):
        return "ru" if _RUSSIAN_LETTERS.issuperset(cyrillic) else None

    lowered = " ".join(_WORD.findall(text.lower()))
    words = lowered.split()
    padded = f" {lowered} "
    present = set(letters)
    portuguese = (
        2 * sum(word in _PT_STRONG_WORDS for word in words)
        + sum(word in _PT_WEAK_WORDS for word in words)
        + 2 * sum(f" {phrase} " in padded for phrase in _PT_STRONG_PHRASES)
        + sum(f" {phrase} " in padded for phrase in _PT_WEAK_PHRASES)
        + (2 if present & _PT_TILDES else 0)
        + (1 if present & _PT_ACCENTS else 0)
    )
    spanish = sum(word in _ES_WORDS for word in words) + 2 * bool(present & _ES_LETTERS)
    ascii_only = all(char.isascii() for char in letters)
    english = sum(word in _EN_WORDS for word in words) if ascii_only else 0

    if portuguese >= 2 and portuguese > spanish and portuguese > english:
        return "pt"
    if english >= 2 or (english == 1 and len(words) <= 2):
        return "en" if english > portuguese and english > spanish else None
    return None


def choose(*, hint: str | None, stored: str | None, text: str = "") -> str:
    """The language to answer in: platform hint, then stored, then a guess, then English.

    The platform's hint wins over the stored language because it reflects the device the
    customer is writing from right now; a guess from the text is the last resort.
    """
    for candidate in (hint, stored):
        language = normalize(candidate)
        if language is not None:
            return language
    return detect(text) or DEFAULT
