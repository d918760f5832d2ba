"""Pure conversions for Slack: event payloads to the model, and the model to message text.

Nothing here does I/O, so each rule is tested on recorded payloads (``tests/slack/payloads/``).

Slack's message text is "mrkdwn" with three characters escaped (``&amp; &lt; &gt;``) and
entities in angle brackets: ``<@U123>`` (a user), ``<#C123|name>`` (a channel), ``<!here>``
(a broadcast), ``<https://x|label>`` (a link) —
https://docs.slack.dev/messaging/formatting-message-text. Customers' text is escaped before
it is posted, so a customer writing ``<!channel>`` cannot ping a whole channel.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from bridge.inbound import InboundMessage
from bridge.model import Attachment, ThreadRef

CHANNEL = "slack"

#: Message subtypes that are someone writing (https://docs.slack.dev/reference/events/message).
_WRITTEN = frozenset({None, "file_share", "thread_broadcast", "me_message"})

_ENTITY = re.compile(r"<([^<>\n]*)>")
_MENTION_FIRST = re.compile(
    r"^\s*<(@[UW][A-Z0-9]+|!subteam\^[A-Z0-9]+|!here|!channel|!everyone)(\|[^>]*)?>"
)
_USER_ENTITY = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


@dataclass(frozen=True, slots=True)
class SlackFile:
    id: str
    name: str
    mimetype: str
    size: int
    url: str  # url_private_download: needs the bot token


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A ``message`` event, normalized for the handlers.

    ``kind`` is ``new`` for a message someone wrote, ``changed`` and ``deleted`` for edits
    and deletions (``ts``, ``user``, ``thread_ts`` are then the original message's), and
    ``other`` for everything else (joins, topic changes, bot messages).
    """

    kind: Literal["new", "changed", "deleted", "other"]
    channel: str
    channel_type: str
    ts: str
    user: str | None
    bot_id: str | None
    text: str
    thread_ts: str | None = None
    files: tuple[SlackFile, ...] = ()
    subtype: str | None = None

    @property
    def is_direct(self) -> bool:
        return self.channel_type == "im" or self.channel.startswith("D")

    @property
    def in_thread(self) -> bool:
        """A reply inside a thread (not the thread's first message)."""
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass(frozen=True, slots=True)
class Profile:
    """What a Slack user's profile tells us (``users.info``)."""

    user_id: str
    name: str
    email: str | None = None
    #: Slack confirmed the address (``is_email_confirmed``); only then may it link this
    #: person to a customer known by the same address on another channel.
    email_confirmed: bool = False
    is_bot: bool = False


def parse_message_event(event: Mapping[str, Any]) -> MessageEvent | None:
    """The normalized form of a ``message`` event; None for another event type."""
    if event.get("type") != "message":
        return None
    subtype = event.get("subtype")
    if subtype is not None and not isinstance(subtype, str):
        subtype = "unknown"  # not a subtype Slack sends: handled as "other" below
    channel = str(event.get("channel", ""))
    channel_type = str(event.get("channel_type", ""))
    if subtype == "message_changed":
        inner = _mapping(event.get("message"))
        return MessageEvent(
            "changed",
            channel,
            channel_type,
            ts=str(inner.get("ts", "")),
            user=_str_or_none(inner.get("user")),
            bot_id=_str_or_none(inner.get("bot_id")),
            text=str(inner.get("text", "")),
            thread_ts=_str_or_none(inner.get("thread_ts")),
            subtype=subtype,
        )
    if subtype == "message_deleted":
        previous = _mapping(event.get("previous_message"))
        return MessageEvent(
            "deleted",
            channel,
            channel_type,
            ts=str(event.get("deleted_ts", "")),
            user=_str_or_none(previous.get("user")),
            bot_id=_str_or_none(previous.get("bot_id")),
            text=str(previous.get("text", "")),
            thread_ts=_str_or_none(previous.get("thread_ts")),
            subtype=subtype,
        )
    kind: Literal["new", "other"] = "new" if subtype in _WRITTEN else "other"
    return MessageEvent(
        kind,
        channel,
        channel_type,
        ts=str(event.get("ts", "")),
        user=_str_or_none(event.get("user")),
        bot_id=_str_or_none(event.get("bot_id")),
        text=str(event.get("text", "")),
        thread_ts=_str_or_none(event.get("thread_ts")),
        files=tuple(_files(event.get("files"))),
        subtype=_str_or_none(subtype),
    )


def _files(raw: object) -> list[SlackFile]:
    if not isinstance(raw, list):
        return []
    files = []
    for item in raw:
        if not isinstance(item, dict):
            continue
        url = item.get("url_private_download") or item.get("url_private")
        if not url:
            continue  # a file the app cannot read (e.g. tombstoned)
        files.append(
            SlackFile(
                id=str(item.get("id", "")),
                name=str(item.get("name") or item.get("title") or "file"),
                mimetype=str(item.get("mimetype") or "application/octet-stream"),
                size=int(item.get("size") or 0),
                url=str(url),
            )
        )
    return files


def _str_or_none(value: object) -> str | None:
    return str(value) if value else None


def profile_of(user: Mapping[str, Any]) -> Profile:
    """A ``users.info`` user object (https://docs.slack.dev/reference/objects/user-object)."""
    profile = user.get("profile") or {}
    user_id = str(user.get("id", ""))
    name = (
        profile.get("real_name")
        or user.get("real_name")
        or profile.get("display_name")
        or user.get("name")
        or user_id
    )
    email = profile.get("email") or None
    return Profile(
        user_id=user_id,
        name=" ".join(str(name).split())[:100] or user_id,
        email=str(email).strip() if email else None,
        email_confirmed=bool(user.get("is_email_confirmed", False)),
        is_bot=bool(user.get("is_bot", False)),
    )


# --- threads -----------------------------------------------------------------------------


def customer_thread_key(event: MessageEvent) -> str:
    """A DM is one conversation (its channel id); in a customer channel, each thread is
    (``channel:root ts``)."""
    if event.is_direct:
        return event.channel
    return f"{event.channel}:{event.thread_ts or event.ts}"


def split_thread_key(key: str) -> tuple[str, str | None]:
    """``(channel, thread ts)``; no thread ts for a DM."""
    channel, _, thread_ts = key.partition(":")
    return channel, thread_ts or None


def slack_ref(channel: str, ts: str) -> str:
    """How a Slack message is named in links and receipts: ts is unique within a channel."""
    return f"{channel}:{ts}"


def split_ref(ref: str) -> tuple[str, str]:
    channel, _, ts = ref.partition(":")
    return channel, ts


def ts_time(ts: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(ts), UTC)
    except ValueError:
        return datetime.fromtimestamp(0, UTC)


def customer_message(
    event: MessageEvent,
    *,
    account: str,
    profile: Profile,
    text: str,
    received_at: datetime,
    attachments: tuple[Attachment, ...] = (),
) -> InboundMessage:
    """The core's form of a customer's message from a customer channel or a DM."""
    return InboundMessage(
        thread=ThreadRef(CHANNEL, account, customer_thread_key(event)),
        external_id=slack_ref(event.channel, event.ts),
        sender_id=profile.user_id,
        sender_name=profile.name,
        text=text,
        received_at=received_at,
        email=profile.email,
        email_verified=profile.email is not None and profile.email_confirmed,
        attachments=attachments,
    )


# --- text --------------------------------------------------------------------------------


def starts_with_mention(text: str) -> bool:
    """The message begins by addressing colleagues: one (``<@U…>``), a group
    (``<!subteam^S…>``) or the channel (``<!here>``, ``<!channel>``, ``<!everyone>``)."""
    return _MENTION_FIRST.match(text) is not None


def mentioned_users(text: str) -> list[str]:
    return list(dict.fromkeys(_USER_ENTITY.findall(text)))


def to_plain(text: str, names: Mapping[str, str] | None = None) -> str:
    """Slack mrkdwn as plain text for a customer or the store: entities spelled out,
    escapes undone."""
    known = names or {}

    def entity(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + (known.get(target[1:]) or label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            word = target[1:].split("^")[0]
            return label or ("@" + word if word in ("here", "channel", "everyone") else word)
        if label and label != target.removeprefix("mailto:"):
            return f"{label} ({target.removeprefix('mailto:')})"
        return target.removeprefix("mailto:")

    converted = _ENTITY.sub(entity, text)
    return converted.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def escape(text: str) -> str:
    """Text as Slack must receive it so that nothing in it becomes a mention or link markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def file_line(name: str, size: int) -> str:
    return f"📎 {name} ({human_size(size)})"


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB"):
        if value < 1024 or unit == "MB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} MB"  # pragma: no cover (the loop always returns)


def _mapping(value: object) -> Mapping[str, Any]:
    """A nested object of an event, or an empty one when Slack (or a forger) sent another type."""
    return value if isinstance(value, Mapping) else {}
