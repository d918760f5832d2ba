"""One Telegram update, handled: files downloaded, the message or edit committed, a command
answered. Shared by long polling and the webhook.

:meth:`UpdateHandler.handle` returns only once what the update leads to is committed, so its
caller may then acknowledge the update to Telegram (advance the offset, answer 200). It raises
when the update must come again: the store is unavailable, the bridge is stopping
(``IngestStopped``), or Telegram would not hand over a file for now (:class:`RetryLater`).
Coming again is harmless: the store dedupes messages on ``"<chat id>:<message id>"`` and an
edit to the same text records nothing.

Files over the size limit are not downloaded: the stored message says
``[file too large: name, size]`` where the file would be, so agents see what was sent, and the
customer is told at once, in their language, that the file did not reach us.
"""

from __future__ import annotations

import io
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import Update

from bridge.deps import ChannelDeps
from bridge.errors import ChannelError, FileTooLarge, InvalidInput
from bridge.model import Attachment
from channels.telegram.commands import answer
from channels.telegram.convert import (
    Command,
    Edited,
    Ignored,
    Incoming,
    Rated,
    parse_update,
)
from channels.telegram.errors import MAPPED, channel_error
from channels.telegram.media import (
    FileRef,
    human_size,
    too_large_note,
)
from channels.telegram.sender import Sender
from channels.telegram.settings import TelegramSettings
from channels.telegram.texts import language_of, text

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT = 60


class RetryLater(Exception):
    """The update cannot be handled now; it must not be acknowledged."""


class RecentUpdates:
    """The update ids handled lately in this process, so that an update Telegram sends again
    (a webhook retry, a poll repeated after a failure) is skipped without a database trip."""

    def __init__(self, size: int = 100_000) -> None:
        self._ids: set[int] = set()
        self._order: deque[int] = deque()
        self._size = size

    def __contains__(self, update_id: object) -> bool:
        return update_id in self._ids

    def add(self, update_id: int) -> None:
        if update_id in self._ids:
            return
        self._ids.add(update_id)
        self._order.append(update_id)
        if len(self._order) > self._size:
            self._ids.discard(self._order.popleft())


@dataclass(frozen=True, slots=True)
class Dropped:
    """A file that did not become an attachment, and the note agents read in its place."""

    name: str
    note: str
    too_large: bool = False


def _too_large(name: str, size: int | None) -> Dropped:
    return Dropped(name, too_large_note(name, size), too_large=True)


def _unavailable(ref: FileRef, why: str) -> Dropped:
    log.warning("telegram file %s could not be downloaded: %s", ref.file_id, why)
    return Dropped(ref.name, f"[file could not be received: {ref.name}]")


class UpdateHandler:
    def __init__(
        self,
        bot: Bot,
        sender: Sender,
        deps: ChannelDeps,
        settings: TelegramSettings,
        *,
        bot_username: Callable[[], str | None],
    ) -> None:
        self._bot = bot
        self._sender = sender
        self._deps = deps
        self._settings = settings
        self._bot_username = bot_username

    @property
    def max_file_bytes(self) -> int:
        return min(self._settings.max_file_bytes, self._deps.files.max_bytes)

    async def handle(self, update: Update) -> None:
        try:
            parsed = parse_update(
                update,
                account=self._settings.account,
                groups=self._settings.groups,
                bot_username=self._bot_username(),
            )
        except Exception:
            # A bug in the conversion: trying again would fail the same way and hold up every
            # update behind this one, so it is logged (with the trace, at ERROR) and skipped.
            log.exception("telegram update %d could not be read; skipped", update.update_id)
            return
        if isinstance(parsed, Ignored):
            log.info("telegram update %d ignored: %s", parsed.update_id, parsed.reason)
        elif isinstance(parsed, Incoming):
            await self._incoming(parsed)
        elif isinstance(parsed, Edited):
            await self._edited(parsed)
        elif isinstance(parsed, Rated):
            await self._rated(parsed)
        else:
            await self._command(parsed)

    async def _incoming(self, incoming: Incoming) -> None:
        attachments: list[Attachment] = []
        dropped: list[Dropped] = []
        for ref in incoming.files:
            stored = await self._download(ref)
            if isinstance(stored, Dropped):
                dropped.append(stored)
            else:
                attachments.append(stored)
        lines = [incoming.text or ("" if dropped else incoming.placeholder)]
        lines += [d.note for d in dropped]
        body = "\n".join(line for line in lines if line)
        try:
            result = await self._deps.ingest.ingest(incoming.inbound(body, tuple(attachments)))
        except InvalidInput as error:  # nothing a retry could change
            log.warning("telegram update %d refused: %s", incoming.update_id, error)
            return
        if result.duplicate:
            return
        log.info(
            "telegram update %d: message %d in conversation %d",
            incoming.update_id,
            result.message.id,
            result.conversation.id,
        )
        language = language_of(incoming.sender.language)
        limit = human_size(self.max_file_bytes)
        for item in dropped:
            if item.too_large:
                notice = text("file_too_large", language, name=item.name, limit=limit)
                await self._tell(incoming.chat_id, notice)

    async def _download(self, ref: FileRef) -> Attachment | Dropped:
        limit = self.max_file_bytes
        if ref.size is not None and ref.size > limit:
            return _too_large(ref.name, ref.size)
        try:
            found = await self._bot.get_file(ref.file_id, request_timeout=DOWNLOAD_TIMEOUT)
            size = found.file_size or ref.size
            if size is not None and size > limit:
                return _too_large(ref.name, size)
            if not found.file_path:
                return _unavailable(ref, "Telegram gave no file_path")
            buffer = io.BytesIO()
            await self._bot.download_file(found.file_path, buffer, timeout=DOWNLOAD_TIMEOUT)
        except TelegramBadRequest as error:
            if "file is too big" in error.message:  # the Bot API's 20 MB download limit
                return _too_large(ref.name, ref.size)
            return _unavailable(ref, error.message)
        except aiohttp.ClientResponseError as error:
            if 400 <= error.status < 500:
                return _unavailable(ref, f"the download answered {error.status}")
            raise RetryLater(f"downloading a file: HTTP {error.status}") from error
        except MAPPED as error:
            raise RetryLater(f"downloading a file: {channel_error(error).reason}") from error
        data = buffer.getvalue()
        try:
            return await self._deps.files.save(data, name=ref.name, content_type=ref.content_type)
        except FileTooLarge:
            return _too_large(ref.name, len(data))

    async def _edited(self, edited: Edited) -> None:
        try:
            message = await self._deps.ingest.edit(edited.edit)
        except InvalidInput as error:
            log.warning("telegram update %d: edit refused: %s", edited.update_id, error)
            return
        if message is None:
            # A message never stored (a command, or one sent before the bridge ran).
            log.info("telegram update %d: edit of an unknown message", edited.update_id)
        else:
            log.info("telegram update %d: message %d edited", edited.update_id, message.id)

    async def _rated(self, rated: Rated) -> None:
        """A rating button: recorded through the request's status-page token, and the tap
        answered (Telegram shows a spinner on the button until it is)."""
        ratings = self._deps.ratings
        recorded = ratings is not None and await ratings.rate_by_link(rated.token, rated.rating)
        log.info(
            "telegram update %d: rating %s", rated.update_id, "recorded" if recorded else "refused"
        )
        language = language_of(rated.language)
        try:
            await self._bot.answer_callback_query(
                rated.callback_id, text=text("rated" if recorded else "not_rated", language)
            )
        except MAPPED as error:
            log.warning("answering a rating tap failed: %s", channel_error(error).reason)

    async def _command(self, command: Command) -> None:
        reply = await answer(command, self._deps.history, self._deps.queue)
        log.info("telegram update %d: /%s answered", command.update_id, command.name)
        await self._tell(command.chat_id, reply)

    async def _tell(self, chat_id: int, message: str) -> None:
        """The bot's own answer; a failure is logged, not retried with the update (the update
        itself is committed, and a late answer to /status would be stale anyway)."""
        try:
            await self._sender.say(chat_id, message)
        except ChannelError as error:
            log.warning("telegram: the bot's answer to chat %d failed: %s", chat_id, error)
