"""Pure conversions for Telegram: an update to what the adapter does with it, and texts back.

Nothing here does I/O, so every rule about what a Telegram update becomes is tested on
recorded updates (``tests/telegram/updates/``) without a server.

An update (https://core.telegram.org/bots/api#update) becomes one of:

* :class:`Incoming` -- a customer's message: text or caption, the files to download, and a
  readable placeholder for kinds agents cannot open (stickers, locations, contacts, ...);
* :class:`Edited` -- a customer changed a message (``edited_message``);
* :class:`Command` -- ``/start``, ``/status`` or ``/help``, answered by the adapter itself;
* :class:`Ignored` -- everything else (other update kinds, service messages, groups when
  they are off, bots), with the reason for the log.

Ids: the thread of a private chat is the chat id; of a group (when enabled) the chat id and
the member's user id, so each member has their own conversation. A message's external id is
``"<chat id>:<message id>"``, unique per bot, which is what makes a redelivered update a
no-op in the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
    User,
)
from pydantic import ValidationError

from bridge.inbound import InboundEdit, InboundMessage
from bridge.model import Attachment, ThreadRef, source_key
from channels.telegram.media import UNREADABLE, FileRef, content_type, files_of, placeholder

CHANNEL = "telegram"
HANDLED_KINDS = frozenset({"message", "edited_message", "callback_query"})
#: Kinds whose unreadable parts are set aside while the rest is stored (a customer's words);
#: any other kind that does not read is set aside whole and acknowledged.
SALVAGED_KINDS = frozenset({"message", "edited_message"})
#: A rating button's data: the status-page token of the rating request, and 1-5.
RATE_DATA = re.compile(r"^rate:([A-Za-z0-9_-]{32}):([1-5])$")
#: A rating request's link to the status page's rating form (see web/csat.py).
RATE_LINK = re.compile(r"/status/([A-Za-z0-9_-]{32})#rate\b")
#: Without these a message cannot be stored or answered.
ESSENTIAL = frozenset({"message_id", "date", "chat", "from"})
COMMANDS = frozenset({"start", "status", "help"})
GROUP_TYPES = frozenset({"group", "supergroup"})
#: Service messages: something happened in the chat; nobody wrote anything.
SERVICE_KINDS = frozenset(
    {
        "new_chat_members",
        "left_chat_member",
        "new_chat_title",
        "new_chat_photo",
        "delete_chat_photo",
        "group_chat_created",
        "supergroup_chat_created",
        "channel_chat_created",
        "message_auto_delete_timer_changed",
        "migrate_to_chat_id",
        "migrate_from_chat_id",
        "pinned_message",
        "forum_topic_created",
        "forum_topic_edited",
        "forum_topic_closed",
        "forum_topic_reopened",
        "video_chat_scheduled",
        "video_chat_started",
        "video_chat_ended",
        "video_chat_participants_invited",
        "write_access_allowed",
        "proximity_alert_triggered",
        "boost_added",
        "chat_background_set",
    }
)


@dataclass(frozen=True, slots=True)
class Sender:
    user_id: int
    name: str  # "Ana Lima (@analima)"
    language: str | None  # Telegram's language_code, e.g. "pt-br"


@dataclass(frozen=True, slots=True)
class Incoming:
    update_id: int
    thread: ThreadRef
    chat_id: int
    message_id: int
    sender: Sender
    text: str  # the text or the caption; empty when there is neither
    #: What agents read for a message without text or caption ("[photo]", "[sticker 😀]").
    placeholder: str
    files: tuple[FileRef, ...]
    received_at: datetime
    reply_to_message_id: int | None = None

    @property
    def external_id(self) -> str:
        return external_id(self.chat_id, self.message_id)

    def inbound(self, text: str, attachments: tuple[Attachment, ...]) -> InboundMessage:
        """The message for the store, once the files are downloaded (or replaced by notes)."""
        reply_to = self.reply_to_message_id
        return InboundMessage(
            thread=self.thread,
            external_id=self.external_id,
            sender_id=str(self.sender.user_id),
            sender_name=self.sender.name,
            text=text,
            received_at=self.received_at,
            language=self.sender.language,
            attachments=attachments,
            reply_to_external_id=None if reply_to is None else external_id(self.chat_id, reply_to),
        )


@dataclass(frozen=True, slots=True)
class Edited:
    update_id: int
    chat_id: int
    edit: InboundEdit


@dataclass(frozen=True, slots=True)
class Command:
    update_id: int
    name: str  # one of COMMANDS
    argument: str  # what followed, e.g. the deep-link payload of /start
    thread: ThreadRef
    chat_id: int
    message_id: int
    sender: Sender


@dataclass(frozen=True, slots=True)
class Rated:
    """A customer tapped a rating button under a rating request."""

    update_id: int
    callback_id: str
    chat_id: int | None
    message_id: int | None
    token: str
    rating: int
    language: str | None


@dataclass(frozen=True, slots=True)
class Ignored:
    update_id: int
    reason: str


Parsed = Incoming | Edited | Command | Rated | Ignored


def external_id(chat_id: int, message_id: int) -> str:
    return f"{chat_id}:{message_id}"


def parse_external_id(value: str) -> tuple[int, int]:
    """``"<chat id>:<message id>"`` back into its numbers; ValueError when it is not one."""
    chat, sep, message = value.rpartition(":")
    if not sep:
        raise ValueError(f"not a Telegram message id: {value!r}")
    return int(chat), int(message)


def chat_of(thread_key: str) -> int:
    """The chat id of a thread key (a group member's key is ``"<chat id>:<user id>"``)."""
    return int(thread_key.split(":", 1)[0])


def is_group_chat(chat_id: int) -> bool:
    """Group and channel ids are negative; users' private chats positive
    (https://core.telegram.org/bots/api#chat)."""
    return chat_id < 0


# --- inbound -----------------------------------------------------------------------------


def parse_update(
    update: Update, *, account: str, groups: bool, bot_username: str | None = None
) -> Parsed:
    """What the adapter should do with ``update``."""
    update_id = update.update_id
    if update.message is not None:
        return _parse_message(update_id, update.message, account, groups, bot_username)
    if update.edited_message is not None:
        return _parse_edit(update_id, update.edited_message, account, groups)
    if update.callback_query is not None:
        return _parse_callback(update_id, update.callback_query)
    return Ignored(update_id, f"update kind {update_kind(update)} is not handled")


def read_update(data: dict[str, Any]) -> Update:
    """An update from its JSON, even when Telegram sends fields newer than this aiogram knows.

    aiogram validates strictly; a Bot API release that adds a required field to, say, polls
    would otherwise make a customer's message unreadable (and, in a getUpdates batch, every
    message with it). Whatever part of the payload fails is set aside under another name (an
    extra field aiogram keeps unread) -- the poll, not the message -- and the rest is read: the
    customer's text and ids survive, and the part set aside shows up as "[unsupported
    message: poll]". An update kind the bridge does not handle is set aside whole. Raises
    ValidationError when even that fails: a message without its ids is malformed.
    """
    try:
        return Update.model_validate(data)
    except ValidationError as error:
        pruned = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
        for problem in error.errors():
            where = problem["loc"]
            if not where or not isinstance(where[0], str) or where[0] not in pruned:
                continue
            kind = where[0]
            part = pruned[kind]
            if kind not in SALVAGED_KINDS:
                pruned[f"{UNREADABLE}{kind}"] = pruned.pop(kind)
            elif (
                len(where) >= 2
                and isinstance(part, dict)
                and where[1] in part
                and where[1] not in ESSENTIAL
            ):
                part[f"{UNREADABLE}{where[1]}"] = part.pop(where[1])
        return Update.model_validate(pruned)


def update_kind(update: Update) -> str:
    """The name of the update's payload field ("callback_query", a kind newer than aiogram)."""
    for name in type(update).model_fields:
        if name != "update_id" and getattr(update, name) is not None:
            return name
    extra = [k for k in (update.model_extra or {}) if k != "update_id"]
    return extra[0] if extra else "unknown"


def _thread(message: Message, account: str, groups: bool) -> ThreadRef | str:
    """The customer's thread, or why the message is not one."""
    user = message.from_user
    if user is None:
        return "a message without a sender (a channel or an anonymous admin)"
    if user.is_bot:
        return "a message from a bot"
    chat = message.chat
    if chat.type == "private":
        return ThreadRef(CHANNEL, account, str(chat.id))
    if chat.type in GROUP_TYPES:
        if not groups:
            return "a group message (groups are off)"
        return ThreadRef(CHANNEL, account, f"{chat.id}:{user.id}")
    return f"a message in a {chat.type} chat"


def sender_of(user: User) -> Sender:
    name = " ".join(p for p in (user.first_name, user.last_name) if p).strip() or str(user.id)
    if user.username:
        name = f"{name} (@{user.username})"
    return Sender(user.id, name, user.language_code)


def _parse_message(
    update_id: int, message: Message, account: str, groups: bool, bot_username: str | None
) -> Parsed:
    thread = _thread(message, account, groups)
    if isinstance(thread, str):
        return Ignored(update_id, thread)
    assert message.from_user is not None  # _thread checked it
    sender = sender_of(message.from_user)
    kind = content_type(message)
    if kind in SERVICE_KINDS:
        return Ignored(update_id, f"a service message ({kind})")
    command = _command(message.text, bot_username)
    if command is not None:
        name, argument = command
        return Command(
            update_id, name, argument, thread, message.chat.id, message.message_id, sender
        )
    text = message.text or message.caption or ""
    reply = message.reply_to_message
    return Incoming(
        update_id=update_id,
        thread=thread,
        chat_id=message.chat.id,
        message_id=message.message_id,
        sender=sender,
        text=text,
        placeholder="" if text else placeholder(message),
        files=files_of(message),
        received_at=message.date,
        reply_to_message_id=reply.message_id if reply is not None else None,
    )


def _parse_edit(update_id: int, message: Message, account: str, groups: bool) -> Parsed:
    thread = _thread(message, account, groups)
    if isinstance(thread, str):
        return Ignored(update_id, thread)
    text = message.text or message.caption or ""
    if not text.strip():
        return Ignored(update_id, "an edit that leaves no text")
    edited_at = (
        datetime.fromtimestamp(message.edit_date, UTC) if message.edit_date else message.date
    )
    return Edited(
        update_id,
        message.chat.id,
        InboundEdit(
            source=source_key(CHANNEL, thread.account),
            external_id=external_id(message.chat.id, message.message_id),
            text=text,
            edited_at=edited_at,
        ),
    )


def _command(text: str | None, bot_username: str | None) -> tuple[str, str] | None:
    """``("status", "")`` for "/status" or "/status@this_bot"; None for anything else, an
    unknown command or one addressed to another bot included (those are just text)."""
    if not text or not text.startswith("/"):
        return None
    head, _, argument = text[1:].partition(" ")
    name, _, addressee = head.partition("@")
    if addressee and bot_username is not None and addressee.lower() != bot_username.lower():
        return None
    name = name.lower()
    if name not in COMMANDS:
        return None
    return name, argument.strip()


def _parse_callback(update_id: int, query: CallbackQuery) -> Rated | Ignored:
    found = RATE_DATA.match(query.data or "")
    if found is None:
        return Ignored(update_id, "a button this bridge did not send")
    message = query.message
    return Rated(
        update_id,
        query.id,
        message.chat.id if message is not None else None,
        message.message_id if message is not None else None,
        found.group(1),
        int(found.group(2)),
        query.from_user.language_code,
    )


def rating_keyboard(token: str) -> InlineKeyboardMarkup:
    """1-5 buttons under a rating request; each carries the request's token."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=f"{n} ⭐", callback_data=f"rate:{token}:{n}")
                for n in range(1, 6)
            ]
        ]
    )
