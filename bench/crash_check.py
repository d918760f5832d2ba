"""Counting after the crash run (bench/crash.py): the database, what the fakes received and
what web chat visitors saw, against what the load generator had acknowledged and accepted.

Per channel:

* inbound: every acknowledged customer message (web chat echo, Telegram update confirmed by
  a poll's offset, Slack event answered 200) is stored exactly once; nothing is stored twice;
* replies: every reply the API accepted is stored once with one delivery, sent; on Telegram
  and Slack the customer's chat received its text exactly once (by text, in that chat);
* every delivery marked sent to Telegram or Slack reached the fake exactly once under its
  idempotency key (``<delivery key>:<part>``), bot messages (acknowledgements) included; the
  fakes received nothing without a key or under a key no delivery has;
* ``repeated_keys``: sends the fake dropped as repeats of a key it had already taken -- the
  times the key saved a customer from a duplicate, reported, not hidden;
* notes: no delivery row, and their marker in nothing a fake received or a visitor saw.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.crash_load import CHANNELS, Load


@dataclass(frozen=True)
class Received:
    """One message a fake took in: the chat it went to, its text(s) and its key."""

    chat: str
    texts: tuple[str, ...]  # the text, then any edits
    key: str | None


@dataclass(frozen=True)
class FakeRecord:
    received: list[Received]
    repeated_keys: int
    other_texts: list[str]  # ephemeral messages and the like: searched for notes only


@dataclass(frozen=True)
class Database:
    customer: list[tuple[str, str, int]]  # (channel, text, count)
    agent: list[tuple[str, str, int, int]]  # (text, visibility, deliveries, sent)
    deliveries: list[dict[str, Any]]  # key, state, channel, thread_key, author, text
    #: channel -> (conversations, those without a bot message, and of those the ones whose
    #: acknowledgement was claimed (the wait's promise made) yet never posted)
    conversations: dict[str, tuple[int, int, int]]


def inbound(load: Load, db: Database, channel: str) -> tuple[dict[str, int], dict[str, Any]]:
    stored = Counter[str]()
    for row_channel, text, count in db.customer:
        if row_channel == channel:
            stored[text] += count
    acked = load.acked[channel]
    lost = sorted(acked - set(stored))
    twice = sorted(t for t, n in stored.items() if n > 1)
    conversations, silent, promised = db.conversations.get(channel, (0, 0, 0))
    figures = {
        "acknowledged": len(acked),
        "stored": len(stored),
        "lost": len(lost),
        "stored_twice": len(twice),
        "conversations": conversations,
        "conversations_without_auto_acknowledgement": silent,
        "of_those_promise_claimed_not_posted": promised,
    }
    return figures, {"lost": lost[:5], "twice": twice[:5]}


def replies_stored(load: Load, db: Database, channel: str) -> list[str]:
    """Accepted replies not stored exactly once with exactly one delivery, sent."""
    rows: dict[str, list[tuple[str, int, int]]] = {}
    for text, visibility, deliveries, sent in db.agent:
        rows.setdefault(text, []).append((visibility, deliveries, sent))
    return sorted(
        r.text
        for r in load.replies
        if r.channel == channel and [row[1:] for row in rows.get(r.text, [])] != [(1, 1)]
    )


def delivered(
    load: Load, db: Database, channel: str, fake: FakeRecord
) -> tuple[dict[str, int], dict[str, Any]]:
    """What the fake of ``channel`` received, against the deliveries and the replies."""
    by_key = Counter(r.key for r in fake.received)
    rows = [d for d in db.deliveries if d["channel"] == channel]
    keys = {d["key"] for d in rows}
    twice_or_never = [
        d["key"] for d in rows if d["state"] == "sent" and by_key[f"{d['key']}:0"] != 1
    ]
    unknown = [k for k in by_key if k is not None and k.rsplit(":", 1)[0] not in keys]
    texts = Counter((r.chat, r.texts[0]) for r in fake.received)
    thread_of = {d["text"]: d["thread_key"] for d in rows}
    mine = [r for r in load.replies if r.channel == channel]
    replies_wrong = [r.text for r in mine if texts[(thread_of.get(r.text, "?"), r.text)] != 1]
    bots = [d for d in rows if d["author"] == "bot"]
    figures = {
        "replies_accepted": len(mine),
        "replies_not_exactly_once_received": len(replies_wrong),
        "bot_messages": len(bots),
        "deliveries": len(rows),
        "deliveries_not_sent": sum(d["state"] != "sent" for d in rows),
        "sent_not_received_exactly_once_by_key": len(twice_or_never),
        "received_without_key": by_key[None],
        "received_under_unknown_key": len(unknown),
        "repeated_keys": fake.repeated_keys,
    }
    examples = {"replies": replies_wrong[:5], "keys": twice_or_never[:5], "unknown": unknown[:5]}
    return figures, examples


def webchat_replies(load: Load, db: Database) -> dict[str, int]:
    """Web chat: the database is the record (a visitor reconnecting misses live frames and a
    later page load shows the history); frames show what visitors happened to see live."""
    seen = {f.get("text") for f in load.frames if f.get("type") == "message"}
    rows = [d for d in db.deliveries if d["channel"] == "webchat"]
    mine = [r for r in load.replies if r.channel == "webchat"]
    return {
        "replies_accepted": len(mine),
        "replies_seen_live": sum(r.text in seen for r in mine),
        "bot_messages": sum(d["author"] == "bot" for d in rows),
        "deliveries": len(rows),
        "deliveries_not_sent": sum(d["state"] != "sent" for d in rows),
    }


def notes(load: Load, db: Database, fakes: dict[str, FakeRecord]) -> dict[str, int]:
    marker = load.note_marker
    written = {n.text for n in load.notes}
    stored = [row for row in db.agent if row[0] in written]
    leaked: Counter[str] = Counter()
    for channel, fake in fakes.items():
        for received in fake.received:
            leaked[channel] += sum(marker in t for t in received.texts)
        leaked[channel] += sum(marker in t for t in fake.other_texts)
    leaked["webchat"] = sum(marker in json.dumps(f) for f in load.frames)
    return {
        "written": len(written),
        "stored": len(stored),
        "not_internal": sum(row[1] != "internal" for row in stored),
        "with_deliveries": sum(marker in d["text"] for d in db.deliveries),
        **{f"seen_on_{c}": leaked[c] for c in CHANNELS},
    }


def verdict(load: Load, db: Database, fakes: dict[str, FakeRecord]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    examples: dict[str, Any] = {}
    bad = 0
    for channel in CHANNELS:
        figures, found = inbound(load, db, channel)
        stored_wrong = replies_stored(load, db, channel)
        figures["replies_not_stored_once_with_one_sent_delivery"] = len(stored_wrong)
        found["replies_stored"] = stored_wrong[:5]
        if channel in fakes:
            out, more = delivered(load, db, channel, fakes[channel])
            bad += sum(v for k, v in out.items() if k not in _COUNTS)
        else:
            out, more = webchat_replies(load, db), {}
            bad += out["deliveries_not_sent"]
        bad += figures["lost"] + figures["stored_twice"] + len(stored_wrong)
        result[channel] = {**figures, **out}
        examples[channel] = {**found, **more}
    result["telegram"]["updates_queued"] = len(load.updates)
    result["telegram"]["updates_not_confirmed"] = len(load.updates) - len(load.acked["telegram"])
    result["slack"]["event_reposts"] = load.slack_retries
    result["slack"]["events_refused"] = load.slack_refused
    result["slack"]["events_never_answered_200"] = len(load.slack_unanswered)
    result["webchat"]["visitor_resends"] = load.visitor_resends
    result["notes"] = notes(load, db, fakes)
    bad += sum(v for k, v in result["notes"].items() if k not in ("written", "stored"))
    busy = all(result[c]["acknowledged"] and result[c]["replies_accepted"] for c in CHANNELS)
    result["ok"] = bad == 0 and busy and bool(result["notes"]["written"])
    result["examples"] = examples
    return result


#: Figures that count what happened rather than what went wrong.
_COUNTS = frozenset({"replies_accepted", "bot_messages", "deliveries", "repeated_keys"})
