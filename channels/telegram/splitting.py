"""Outbound text in parts Telegram accepts: at most 4,096 characters each, counted in UTF-16
code units like its entity offsets (https://core.telegram.org/bots/api#sendmessage)."""

from __future__ import annotations

MAX_TEXT = 4096


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """``text`` in parts of at most ``limit`` UTF-16 code units, cut at a paragraph, else a
    line, else a space, else anywhere (never inside a surrogate pair). Whitespace at a cut is
    dropped; nothing else is."""
    parts: list[str] = []
    rest = text.strip()
    while utf16_length(rest) > limit:
        fits = _prefix_fitting(rest, limit)
        window = rest[:fits]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = window.rfind(separator)
            if cut > 0:
                break
        if cut <= 0:
            cut = fits
        head, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if head:
            parts.append(head)
    if rest:
        parts.append(rest)
    return parts


def _prefix_fitting(text: str, limit: int) -> int:
    """The number of characters of ``text`` that fit in ``limit`` UTF-16 code units."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return index
    return len(text)
