"""Customers who write from Slack: a customer channel (Slack Connect, shared) or a DM.

In a customer channel each top-level message starts a thread, and the thread is the
conversation; a DM is one conversation. Messages become :class:`InboundMessage` with the
Slack message (``channel:ts``) as external id, so a redelivered event is a no-op in the store.
Edits reach the stored message (its history kept); deletions are left alone, since agents may
already have read and answered it.

Colleagues who map to an agent and write in a shared channel are not customers: their
messages there are ignored (they answer from the thread or the inbox).

Replies go back in place (:meth:`CustomerSide.send`): into the thread, or into the DM. The
text goes with the key ``<delivery's idempotency key>:0``, the same on every attempt, so that a
deduplicating Web API in front of Slack can drop the repeat a crash between Slack's answer and
the outbox's record would send (Slack itself has no such key).
"""

from __future__ import annotations

import logging

from bridge.deps import ChannelDeps
from bridge.errors import InvalidInput, PermanentChannelError
from bridge.gate import PublicMessage
from bridge.inbound import InboundEdit
from bridge.model import Author
from bridge.outbound import OutboundMessage, SentReceipt
from channels.slack.api import SlackApi, SlackFailure
from channels.slack.convert import (
    MessageEvent,
    customer_message,
    escape,
    mentioned_users,
    slack_ref,
    split_ref,
    split_thread_key,
    to_plain,
)
from channels.slack.files import fetch_files
from channels.slack.users import Directory

log = logging.getLogger(__name__)


class CustomerSide:
    def __init__(
        self, api: SlackApi, directory: Directory, deps: ChannelDeps, account: str, source: str
    ) -> None:
        self._api = api
        self._directory = directory
        self._deps = deps
        self._account = account
        self._source = source

    async def handle(self, event: MessageEvent) -> None:
        if event.user is None or event.bot_id is not None:
            return
        if await self._directory.is_agent(event.user):
            log.debug("agent %s wrote in customer channel %s; ignored", event.user, event.channel)
            return
        if event.kind == "new":
            await self._new(event)
        elif event.kind == "changed":
            await self._changed(event)

    async def _plain(self, text: str) -> str:
        return to_plain(text, await self._directory.names(mentioned_users(text)))

    async def _new(self, event: MessageEvent) -> None:
        assert event.user is not None
        profile = await self._directory.profile(event.user)
        if profile.is_bot:
            return
        text = await self._plain(event.text)
        attachments, missing = await fetch_files(self._api, self._deps.files, event.files)
        text = "\n".join([text, *missing]).strip()
        try:
            message = customer_message(
                event,
                account=self._account,
                profile=profile,
                text=text,
                received_at=self._deps.clock.now(),
                attachments=attachments,
            )
        except InvalidInput as error:
            log.info("slack message %s refused: %s", slack_ref(event.channel, event.ts), error)
            return
        result = await self._deps.ingest.ingest(message)
        if not result.duplicate:
            log.info(
                "slack message %s stored as %d in conversation %d",
                message.external_id,
                result.message.id,
                result.conversation.id,
            )

    async def _changed(self, event: MessageEvent) -> None:
        try:
            edit = InboundEdit(
                self._source,
                slack_ref(event.channel, event.ts),
                await self._plain(event.text),
                self._deps.clock.now(),
            )
        except InvalidInput:
            return
        if await self._deps.ingest.edit(edit) is None:
            log.debug("edit of unknown slack message %s ignored", edit.external_id)

    # --- replies to customers -------------------------------------------------------------

    async def send(self, out: OutboundMessage) -> SentReceipt:
        if out.destination.account != self._account:
            raise PermanentChannelError(f"no Slack account {out.destination.account!r} here")
        channel, thread_ts = split_thread_key(out.destination.thread_key)
        message = out.message
        text = escape(message.text)
        try:
            if out.edit_of_external_id is not None:
                edit_channel, ts = split_ref(out.edit_of_external_id)
                await self._api.update(edit_channel, ts, text, retry_limited=False)
                return SentReceipt(out.edit_of_external_id)
            ts = ""
            if text.strip():
                ts = await self._api.post(
                    channel,
                    text,
                    thread_ts=thread_ts,
                    username=_sender(message),
                    retry_limited=False,
                    idempotency_key=f"{out.idempotency_key}:0",
                )
            if message.attachments:
                files = [
                    (a.name, await self._deps.files.read(a.storage_key))
                    for a in message.attachments
                ]
                await self._api.upload(channel, files, thread_ts=thread_ts, retry_limited=False)
        except SlackFailure as error:
            raise error.failure.as_channel_error() from None
        return SentReceipt(slack_ref(channel, ts or f"files-{message.id}"))


def _sender(message: PublicMessage) -> str | None:
    """Agents answer under their first name; the bot under the app's own name."""
    if message.author is Author.AGENT and message.author_name.split():
        return message.author_name.split()[0]
    return None
