"""HTML mail to plain text for agents, with the standard library's tokenizer.

Only text survives: no script, style or head content, no markup, no remote images. Block
elements become line breaks, list items get a dash, links keep their address when it differs
from their text. Quoted history (``<blockquote>``, Gmail's ``gmail_quote``, Yahoo's
``yahoo_quoted``, Outlook's ``divRplyFwdMsg``) comes out as ``> `` lines, so the quote
stripper (:mod:`channels.email.quotes`) treats it like a plain-text reply's history.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "svg", "object"})
_BLOCK = frozenset(
    {
        "p", "div", "section", "article", "header", "footer", "table", "tr", "ul", "ol",
        "h1", "h2", "h3", "h4", "h5", "h6", "pre", "hr", "address", "dl", "dt", "dd", "center",
        "form", "fieldset", "main", "nav", "aside", "figure", "tbody", "thead",
    }
)  # fmt: skip
_QUOTE_CLASSES = ("gmail_quote", "yahoo_quoted", "moz-cite-prefix", "protonmail_quote")
_QUOTE_IDS = ("divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container")
_VOID = frozenset({"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area", "base"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._skip = 0
        self._quote = 0
        #: Per open element: (tag, counted as skip, counted as quote); lets a stray closing
        #: tag in broken HTML close what it opened and nothing else.
        self._stack: list[tuple[str, bool, bool]] = []
        self._links: list[str | None] = []
        self._link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag in _VOID:
            if tag == "br":
                self._break()
            elif tag == "hr":
                self._block()
            return
        skip = tag in _SKIP
        classes = values.get("class", "").lower()
        quote = (
            tag == "blockquote"
            or any(name in classes for name in _QUOTE_CLASSES)
            or values.get("id", "").lower() in _QUOTE_IDS
        )
        if tag in _BLOCK or tag in ("blockquote", "li", "br"):
            self._block()
        self._stack.append((tag, skip, quote))
        self._skip += skip
        self._quote += quote
        if tag == "li" and not self._skip:
            self._line.append("- ")
        elif tag == "a":
            self._links.append(values.get("href"))
            self._link_text.append("")
        elif tag in ("td", "th") and self._line:
            self._line.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID or not any(open_tag == tag for open_tag, _, _ in self._stack):
            return
        while self._stack:
            open_tag, skip, quote = self._stack.pop()
            self._skip -= skip
            self._quote -= quote
            if open_tag == "a":
                self._close_link()
            if open_tag in _BLOCK or open_tag in ("blockquote", "li"):
                self._block()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        text = _SPACES.sub(" ", data.replace("\n", " "))
        if not text.strip() and not self._line:
            return
        self._line.append(text)
        if self._link_text:
            self._link_text[-1] += text

    def _close_link(self) -> None:
        if not self._links:
            return
        href = (self._links.pop() or "").strip()
        text = self._link_text.pop().strip()
        if href.startswith(("http://", "https://")) and href.rstrip("/") != text.rstrip("/"):
            self._line.append(f" ({href})")

    def _break(self) -> None:
        line = "".join(self._line).strip()
        prefix = "> " if self._quote else ""
        self.lines.append(prefix + line if line or not prefix else ">")
        self._line = []

    def _block(self) -> None:
        if self._line:
            self._break()
        if self.lines and self.lines[-1] not in ("", ">"):
            self.lines.append(">" if self._quote else "")

    def finish(self) -> str:
        if self._line:
            self._break()
        text = "\n".join(line.rstrip() for line in self.lines)
        return re.sub(r"\n{3,}", "\n\n", text).strip()


def html_to_text(markup: str) -> str:
    """Readable text of an HTML body; never raises on broken markup."""
    converter = _Converter()
    try:
        converter.feed(markup)
        converter.close()
    except Exception:  # html.parser is lenient; this guards against the unforeseen
        return re.sub(r"<[^>]*>", " ", markup)
    return converter.finish()
