"""Sending to Telegram: agents' replies (split, with files, as replies), their edits, and the
bot's own short answers, every call paced and every error mapped (:mod:`.errors`).

Text goes out plain, with no ``parse_mode``: an agent's ``*`` or ``<`` is shown as typed and
nothing needs escaping (https://core.telegram.org/bots/api#formatting-options).

A reply becomes several Telegram messages when its text is over 4,096 characters or it has
files: the text parts first, in order, then each file. The receipt names the last text part
(the one an agent's later edit changes), or the last file when there is no text.

Telegram takes no idempotency key, so the parts already sent are recorded under the
delivery's idempotency key (``links``: kind ``sent_parts``) as each one goes out. A retry --
after a 429 on the second part, or after a crash between sending and the outbox recording
it -- sends only what is missing, and the customer never gets a part twice. What remains is
the moment between Telegram's answer and that record: for that, each part goes out with the
key ``<delivery's idempotency key>:<part index>`` (:mod:`.session`), the same on every attempt,
which a deduplicating Bot API server in front of Telegram (and the test double) honours.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, ReplyParameters
from aiogram.types import Message as TelegramMessage

from bridge.errors import NotFound, PermanentChannelError
from bridge.model import Attachment, Author
from bridge.outbound import OutboundMessage, SentReceipt
from bridge.ports import Clock, FileStore, LinkStore
from channels.telegram.convert import (
    RATE_LINK,
    chat_of,
    external_id,
    parse_external_id,
    rating_keyboard,
)
from channels.telegram.errors import MAPPED, channel_error, is_not_modified
from channels.telegram.pacing import Pacer
from channels.telegram.session import send_key
from channels.telegram.splitting import (
    MAX_TEXT,
    split_text,
    utf16_length,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Bots may upload files up to 50 MB, photos up to 10 MB (https://core.telegram.org/bots/api#sending-files).
MAX_UPLOAD = 50 * 1024 * 1024
MAX_PHOTO = 10 * 1024 * 1024
PHOTO_TYPES = frozenset({"image/jpeg", "image/png"})
#: Unfinished multi-part sends remembered in memory at most (the oldest are forgotten first).
MAX_PROGRESS = 10_000
#: The links kind under which the parts sent for a delivery are recorded.
SENT_PARTS = "sent_parts"


@dataclass(frozen=True, slots=True)
class Part:
    text: str = ""
    attachment: Attachment | None = None


def part_key(delivery_key: str, index: int) -> str:
    """The idempotency key of one part of a delivery: the same on every attempt."""
    return f"{delivery_key}:{index}"


def plan_parts(text: str, attachments: tuple[Attachment, ...]) -> list[Part]:
    return [Part(text=t) for t in split_text(text)] + [Part(attachment=a) for a in attachments]


class Sender:
    def __init__(
        self,
        bot: Bot,
        pacer: Pacer,
        files: FileStore,
        *,
        links: LinkStore,
        clock: Clock,
        source: str,
        timeout: int,
        rating_buttons: bool = False,
    ) -> None:
        #: Rating requests (a bot message linking the status page's rating form) get 1-5
        #: buttons, so a customer rates without leaving the chat.
        self._rating_buttons = rating_buttons
        self._bot = bot
        self._pacer = pacer
        self._files = files
        self._links = links
        self._clock = clock
        self._source = source
        self._timeout = timeout
        self._progress: OrderedDict[str, list[int]] = OrderedDict()

    async def send(self, out: OutboundMessage) -> SentReceipt:
        chat_id = chat_of(out.destination.thread_key)
        if out.edit_of_external_id is not None:
            return await self._edit(out.edit_of_external_id, out.message.text)
        parts = plan_parts(out.message.text, out.message.attachments)
        if not parts:
            raise PermanentChannelError("the message has neither text nor files")
        reply_to = _reply_target(out.reply_to_external_id, chat_id)
        buttons = None
        if self._rating_buttons and out.message.author is Author.BOT:
            link = RATE_LINK.search(out.message.text)
            buttons = rating_keyboard(link.group(1)) if link else None
        key = out.idempotency_key
        done = await self._sent_before(key)
        for index, part in enumerate(parts):
            if index < len(done):
                continue  # sent by an earlier attempt of this delivery
            replying = reply_to if index == 0 else None
            markup = buttons if index == len(parts) - 1 and part.attachment is None else None
            with send_key(part_key(key, index)):
                sent = await self._send_part(chat_id, part, replying, markup)
            done = [*done, sent]
            await self._remember(key, done)
        done = done[: len(parts)]
        self._progress.pop(key, None)
        texts = [sent for sent, part in zip(done, parts, strict=True) if part.attachment is None]
        return SentReceipt(external_id(chat_id, texts[-1] if texts else done[-1]))

    async def say(self, chat_id: int, text: str) -> int:
        """The bot's own text (a command's answer, a notice); returns its message id."""
        return await self._send_part(chat_id, Part(text=text[:MAX_TEXT]), None)

    async def _send_part(
        self,
        chat_id: int,
        part: Part,
        reply_to: int | None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> int:
        reply = (
            ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if reply_to is not None
            else None
        )
        if part.attachment is None:
            return await self._call(
                chat_id,
                lambda: self._bot.send_message(
                    chat_id,
                    part.text,
                    parse_mode=None,
                    reply_parameters=reply,
                    reply_markup=markup,
                    request_timeout=self._timeout,
                ),
            )
        attachment = part.attachment
        upload = BufferedInputFile(await self._read(attachment), filename=attachment.name)
        if attachment.content_type in PHOTO_TYPES and attachment.size <= MAX_PHOTO:
            return await self._call(
                chat_id,
                lambda: self._bot.send_photo(
                    chat_id, upload, reply_parameters=reply, request_timeout=self._timeout
                ),
            )
        return await self._call(
            chat_id,
            lambda: self._bot.send_document(
                chat_id, upload, reply_parameters=reply, request_timeout=self._timeout
            ),
        )

    async def _read(self, attachment: Attachment) -> bytes:
        if attachment.size > MAX_UPLOAD:
            raise PermanentChannelError(
                f"{attachment.name} is larger than the 50 MB a Telegram bot may send"
            )
        try:
            return await self._files.read(attachment.storage_key)
        except NotFound:
            raise PermanentChannelError(f"{attachment.name} is no longer stored") from None

    async def _edit(self, target: str, text: str) -> SentReceipt:
        try:
            chat_id, message_id = parse_external_id(target)
        except ValueError:
            raise PermanentChannelError(f"{target!r} is not a Telegram message id") from None
        if not text.strip():
            raise PermanentChannelError("an edit cannot leave a Telegram message empty")
        if utf16_length(text) > MAX_TEXT:
            raise PermanentChannelError(
                "the edited text is longer than the 4,096 characters of one Telegram message; "
                "send it as a new reply instead"
            )

        async def edit() -> TelegramMessage | bool:
            return await self._bot.edit_message_text(
                text=text,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=None,
                request_timeout=self._timeout,
            )

        await self._paced(chat_id, edit, allow=is_not_modified)
        return SentReceipt(target)

    async def _call(self, chat_id: int, request: Callable[[], Awaitable[TelegramMessage]]) -> int:
        sent = await self._paced(chat_id, request)
        assert sent is not None
        return sent.message_id

    async def _paced(
        self,
        chat_id: int,
        request: Callable[[], Awaitable[T]],
        allow: Callable[[BaseException], bool] = lambda _error: False,
    ) -> T | None:
        """One Bot API call to ``chat_id`` in its paced slot, errors mapped; None when the
        error is one ``allow`` accepts as success."""
        async with self._pacer.slot(chat_id):
            try:
                return await request()
            except MAPPED as error:
                if allow(error):
                    return None
                if isinstance(error, TelegramRetryAfter):
                    self._pacer.hold(chat_id, float(error.retry_after))
                raise channel_error(error) from error

    async def _sent_before(self, key: str) -> list[int]:
        """The message ids of the parts an earlier attempt of this delivery sent."""
        if key in self._progress:
            return self._progress[key]
        try:
            found = await self._links.get_links(self._source, SENT_PARTS, [key])
        except Exception as error:
            log.warning("telegram: reading sent parts failed: %s", type(error).__name__)
            return []
        if key not in found:
            return []
        try:
            return [int(n) for n in json.loads(found[key])]
        except (ValueError, TypeError):
            return []

    async def _remember(self, key: str, done: list[int]) -> None:
        self._progress[key] = done
        self._progress.move_to_end(key)
        while len(self._progress) > MAX_PROGRESS:
            self._progress.popitem(last=False)
        try:
            await self._links.put_links(
                self._source, SENT_PARTS, [(key, json.dumps(done))], self._clock.now()
            )
        except Exception as error:
            # The in-process record still prevents repeats on this process's retries.
            log.warning("telegram: recording a sent part failed: %s", type(error).__name__)


def _reply_target(value: str | None, chat_id: int) -> int | None:
    """The message id to reply to, when the agent answered a message of this chat."""
    if value is None:
        return None
    try:
        reply_chat, message_id = parse_external_id(value)
    except ValueError:
        log.warning("ignoring a reply target that is not a Telegram message id")
        return None
    return message_id if reply_chat == chat_id else None
