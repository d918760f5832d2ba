"""What an agent's thread message means: a reply to the customer, an internal note, or a
command — decided before anything is stored.

A note that reaches a customer is the worst bug this product can have, so the rules lean
to "internal" when in doubt:

* a message starting with one of the note prefixes (``note:``, ``private:``, ``;;``, ``\\\\``
  by default; any case, after leading blanks, also in bold or italics) is a note, stored
  without the prefix;
* a message that begins by mentioning someone (``<@U…>``, a user group, ``@here``) is talk
  between colleagues: a note;
* with ``default_visibility = "note"``, everything is a note unless it starts with
  ``reply:`` (stored without it);
* ``escalate: [tier N] [team NAME] <note>`` hands the conversation on, with the rest as the
  handoff note (never sent to the customer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from channels.slack.convert import starts_with_mention

#: Formatting an agent may wrap a prefix in (``*note:*``, ``_private:_``); skipped to match.
_MARKUP = " \t\r\n*_~"
_ESCALATE = re.compile(r"^\s*escalate\s*:\s*", re.IGNORECASE)
_TIER = re.compile(r"^tier\s+(\d{1,2})\b\s*", re.IGNORECASE)
_TEAM = re.compile(r"^team\s+([\w.-]{1,64})\b\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Reply:
    text: str


@dataclass(frozen=True, slots=True)
class Note:
    text: str
    why: Literal["prefix", "mention", "default"]


@dataclass(frozen=True, slots=True)
class Escalate:
    tier: int | None
    team: str | None
    note: str


Intent = Reply | Note | Escalate


def classify(
    text: str,
    *,
    note_prefixes: tuple[str, ...],
    default_visibility: Literal["reply", "note"],
    reply_prefix: str,
) -> Intent:
    """What ``text`` (Slack mrkdwn, as received) asks for; texts keep their mrkdwn."""
    body = text.lstrip()
    bare = body.lstrip(_MARKUP)
    escalation = _ESCALATE.match(bare)
    if escalation is not None:
        return _escalation(bare[escalation.end() :])
    for prefix in note_prefixes:
        if _starts(body, prefix):
            return Note(body[len(prefix) :].strip(), "prefix")
        if _starts(bare, prefix):
            rest = bare[len(prefix) :]
            return Note(rest.lstrip(_MARKUP).strip(), "prefix")
    if starts_with_mention(body):
        return Note(body.strip(), "mention")
    if _starts(body, reply_prefix):
        return Reply(body[len(reply_prefix) :].strip())
    if default_visibility == "note":
        return Note(body.strip(), "default")
    return Reply(body.strip())


def _starts(body: str, prefix: str) -> bool:
    return body[: len(prefix)].casefold() == prefix.casefold()


def _escalation(rest: str) -> Escalate:
    tier: int | None = None
    team: str | None = None
    while True:
        tier_match = _TIER.match(rest)
        if tier_match is not None and tier is None:
            tier = int(tier_match.group(1))
            rest = rest[tier_match.end() :]
            continue
        team_match = _TEAM.match(rest)
        if team_match is not None and team is None:
            team = team_match.group(1)
            rest = rest[team_match.end() :]
            continue
        break
    return Escalate(tier, team, rest.strip())
