"""What agents need of a reply: the new text, without the quoted history and the signature.

Mail clients append the whole thread under (or interleave it with) each reply. Agents
already have the thread in the conversation, so the quoted part is cut from the text they
see; the original message is kept whole as ``original.eml`` next to it.

Cut from the first history marker on:

* an attribution line: ``On <date>, <name> wrote:`` (Gmail, Apple Mail, Thunderbird; also
  wrapped over two lines), Russian ``... написал(а):`` and Gmail's ``..., Name <addr>:``,
  Portuguese ``Em ..., ... escreveu:``, plus French and German forms;
* ``-----Original Message-----`` (Outlook, Exchange) and its Russian/Portuguese forms;
* Outlook's header block ``From: ... / Sent: ...`` (``От:``/``Отправлено:``,
  ``De:``/``Enviado:``), with the ``____`` rule above it.

Lines starting with ``>`` are dropped wherever they are, so an interleaved answer keeps the
answers. The signature is cut at the ``-- `` delimiter (RFC 3676, section 4.3) and a
trailing mobile footer ("Sent from my iPhone") is dropped. Forwarded messages are content,
not history: "Forwarded message" markers are left alone.
"""

from __future__ import annotations

import re

_ATTRIBUTION = [
    re.compile(r"^\s*On\b.{0,300}\bwrote:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Em\b.{0,300}\bescreveu:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Le\b.{0,300}\ba écrit\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^\s*Am\b.{0,300}\bschrieb\b.{0,200}:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^.{0,300}\b(пишет|написал|написала|написал\(а\)):\s*$", re.DOTALL),
    # Gmail in Russian and several other languages: "<date>, Name <address>:".
    re.compile(r"^.{0,300}\d.{0,300}<[^<>@\s]+@[^<>\s]+>:\s*$", re.DOTALL),
]
_ORIGINAL = re.compile(
    r"^\s*-{2,}\s*(Original Message|Исходное сообщение|Mensagem original|"
    r"Message d'origine|Ursprüngliche Nachricht)\s*-{2,}\s*$",
    re.IGNORECASE,
)
_FORWARD = re.compile(
    r"^\s*(>\s*)?(-{2,}\s*(Forwarded message|Forwarded Message|Пересылаемое сообщение|"
    r"Mensagem encaminhada|Message transféré|Weitergeleitete Nachricht)\s*-{2,}|"
    r"Begin forwarded message:|Início da mensagem reencaminhada:)\s*$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\s*\*?(From|От|De|Von)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"^\s*\*?(Sent|Date|To|Subject|Отправлено|Дата|Кому|Тема|Enviado|Enviada em|Data|Para|"
    r"Assunto|Gesendet|Envoyé)\s*:",
    re.IGNORECASE,
)
_RULE = re.compile(r"^\s*_{8,}\s*$")
_MOBILE = re.compile(
    r"^\s*(Sent from my\b|Sent from Mail for\b|Sent from Yahoo Mail\b|Sent from Outlook\b|"
    r"Get Outlook for\b|Sent via\b|Отправлено с\b|Отправлено из\b|Enviado do meu\b|"
    r"Enviado de meu\b|Enviado do\b|Envoyé de mon\b|Von meinem\b)",
    re.IGNORECASE,
)


def visible_text(text: str) -> str:
    """The new part of a reply; the whole text when cutting would leave nothing."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    forwarded = next((i for i, line in enumerate(lines) if _FORWARD.match(line)), len(lines))
    cut = _history_start(lines[:forwarded])
    kept = [line for line in lines[:cut] if not line.lstrip().startswith(">")]
    if cut == forwarded:  # a forward: what follows the marker is the content to read
        kept = _without_signature(kept) + [line.removeprefix("> ") for line in lines[cut:]]
    else:
        kept = _without_signature(kept)
    result = "\n".join(kept).strip("\n")
    result = re.sub(r"\n{3,}", "\n\n", result).strip()
    return result or text.strip()


def _history_start(lines: list[str]) -> int:
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        if _ORIGINAL.match(line):
            return index
        if _is_attribution(lines, index):
            return index
        if _HEADER_FROM.match(line) and any(
            _HEADER_NEXT.match(following) for following in lines[index + 1 : index + 5]
        ):
            if index > 0 and _RULE.match(lines[index - 1]):
                return index - 1
            return index
    return len(lines)


def _is_attribution(lines: list[str], index: int) -> bool:
    """An attribution line, possibly wrapped onto the next line by the sender's client, and
    followed by a quote or by nothing: prose that happens to say "wrote:" stays."""
    for span in (1, 2):
        if index + span > len(lines):
            break
        candidate = " ".join(part.strip() for part in lines[index : index + span])
        if len(candidate) <= 400 and any(p.match(candidate) for p in _ATTRIBUTION):
            rest = [other for other in lines[index + span :] if other.strip()]
            return not rest or rest[0].lstrip().startswith(">")
    return False


def _without_signature(lines: list[str]) -> list[str]:
    for index, line in enumerate(lines):
        if line in ("-- ", "--", "—", "-- \u200b"):
            lines = lines[:index]
            break
    tail = [i for i, line in enumerate(lines) if line.strip()][-3:]
    for index in tail:
        if _MOBILE.match(lines[index]):
            return lines[:index]
    return lines
