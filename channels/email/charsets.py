"""Turning the bytes of a mail part into text when its declared charset may be wrong.

Mail in the wild declares ``us-ascii`` and sends UTF-8, declares ``iso-8859-1`` for UTF-8,
swaps ``koi8-r`` and ``windows-1251``, or names no charset at all. Decoding never raises
here: the worst case is U+FFFD where a byte made no sense.
"""

from __future__ import annotations

import codecs
import re

#: Single-byte charsets under which any byte string decodes, so a strict decode proves
#: nothing; a valid multi-byte UTF-8 text declared as one of these was UTF-8 all along.
_PERMISSIVE = frozenset(
    {"us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "windows-1252", "cp1252"}
)
_CYRILLIC = ("koi8-r", "windows-1251")
_FALLBACK = "windows-1252"
_SURROGATES = re.compile("[\udc80-\udcff]")


def canonical(charset: str | None) -> str | None:
    """The codec's canonical name, or None for an unknown or missing charset."""
    if not charset:
        return None
    name = charset.strip().strip('"').lower()
    if name in ("unknown-8bit", "x-unknown", "8bit", "default"):
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode a body part: the declared charset when it fits, else the likeliest one."""
    declared = canonical(charset)
    if data.isascii():
        return data.decode("ascii")
    if declared is None or declared in {canonical(c) for c in _PERMISSIVE}:
        # Valid UTF-8 with non-ASCII bytes is practically never a Latin-1 text by accident.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode(declared or _FALLBACK, errors="replace")
    try:
        text = data.decode(declared)
    except UnicodeDecodeError:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode(declared, errors="replace")
    if declared in {canonical(c) for c in _CYRILLIC}:
        return _likelier_cyrillic(data, text, declared)
    return text


def _likelier_cyrillic(data: bytes, text: str, declared: str) -> str:
    """KOI8-R and Windows-1251 are often swapped; both decode any byte. Read as the wrong
    one, ordinary prose turns mostly into capitals, so the reading with more lower-case
    Cyrillic letters wins."""
    other = canonical("windows-1251") if declared == canonical("koi8-r") else "koi8-r"
    assert other is not None
    alternative = data.decode(other, errors="replace")
    return alternative if _lower_share(alternative) > _lower_share(text) + 0.3 else text


def _lower_share(text: str) -> float:
    letters = [c for c in text if "\u0400" <= c <= "\u04ff"]
    if not letters:
        return 0.0
    return sum(c.islower() for c in letters) / len(letters)


def repair_header(value: str) -> str:
    """A header that arrived as raw 8-bit bytes comes out of the parser with surrogate
    escapes; decode those bytes as UTF-8 or, failing that, the likeliest 8-bit charset."""
    if value.isascii() or not _SURROGATES.search(value):
        return value
    raw = value.encode("utf-8", errors="surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    readings = [raw.decode(name, errors="replace") for name in _CYRILLIC]
    best = max(readings, key=_lower_share)
    if _lower_share(best) > 0.5:
        return best
    return raw.decode(_FALLBACK, errors="replace")
