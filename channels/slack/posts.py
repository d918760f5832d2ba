"""Writing into conversation threads: the root message, mirrored messages, reactions and
notices. Each method is one job on the thread's channel lane (:mod:`channels.slack.mirror`
orders them); Web API calls are retried here on transient and setup failures.

Transient failures are retried with backoff (tenacity) for up to ``RETRY_FOR`` seconds; a
setup problem (bot not in the channel, archived channel, missing scope) is retried the same
way while /readyz says what to fix, so the thread fills in once it is fixed. Refusals are
final for that one post.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from bridge.deps import ChannelDeps
from bridge.model import Author, Conversation, Message, Visibility
from channels.slack.api import SlackApi, SlackFailure
from channels.slack.blocks import RootView, failure_text, mirrored, root_message, withdrawn
from channels.slack.convert import slack_ref, split_ref
from channels.slack.threads import Threads

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a post is retried (transient and setup failures) before it is given up.
RETRY_FOR = 3600.0
OK, NOTE, FAILED = "white_check_mark", "lock", "warning"
MAX_AUTHORS = 20_000  # authors of recently mirrored messages, to react to agents' only


def slack_typed_ts(message: Message) -> str | None:
    """The ts of the Slack message an agent typed this reply as, when they did."""
    key = message.external_id  # slack:<team>:<ts>[:<suffix>]
    if message.author is not Author.AGENT or not key or not key.startswith("slack:"):
        return None
    parts = key.split(":")
    return parts[2] if len(parts) >= 3 and parts[2] else None


class ThreadWriter:
    def __init__(self, api: SlackApi, deps: ChannelDeps, threads: Threads) -> None:
        self._api = api
        self._deps = deps
        self._threads = threads
        self._overdue: dict[int, datetime] = {}
        self._authors: dict[int, Author] = {}
        #: The place in line each queued conversation's root shows.
        self.shown: dict[int, int] = {}

    def remember(self, message: Message) -> None:
        """Note who wrote a message on its way to Slack (reactions are for agents' only)."""
        self._authors[message.id] = message.author
        if len(self._authors) > MAX_AUTHORS:
            del self._authors[next(iter(self._authors))]

    def overdue(self, conversation_id: int, due_at: datetime) -> None:
        self._overdue[conversation_id] = due_at

    # --- messages -------------------------------------------------------------------------

    async def ensure_thread(self, conversation: Conversation, channel: str) -> str:
        root = await self._threads.thread_of(conversation.id)
        if root is not None:
            return root
        text, blocks = root_message(await self._root_view(conversation.id))
        ts = await self._retrying(lambda: self._api.post(channel, text, blocks=blocks))
        root = slack_ref(channel, ts)
        await self._threads.set_thread(conversation.id, root)
        log.info("conversation %d has its Slack thread %s", conversation.id, root)
        return root

    async def post_message(self, message: Message, conversation: Conversation, root: str) -> None:
        channel, root_ts = split_ref(root)
        typed_ts = slack_typed_ts(message)
        if typed_ts is not None:  # an agent wrote it in this thread: it is there already
            await self._threads.set_message(message.id, slack_ref(channel, typed_ts), typed=True)
            return
        post = mirrored(message, conversation.origin.channel)
        ts = await self._retrying(
            lambda: self._api.post(
                channel,
                post.text,
                thread_ts=root_ts,
                username=post.username,
                icon_emoji=post.icon_emoji,
            )
        )
        await self._threads.set_message(message.id, slack_ref(channel, ts), typed=False)
        if message.attachments:
            await self._post_files(message, channel, root_ts)
        if message.author is Author.AGENT and message.visibility is Visibility.INTERNAL:
            await self._retrying(lambda: self._api.react(channel, ts, NOTE))

    async def _post_files(self, message: Message, channel: str, root_ts: str) -> None:
        files: list[tuple[str, bytes]] = []
        for attachment in message.attachments:
            try:
                files.append((attachment.name, await self._deps.files.read(attachment.storage_key)))
            except Exception as error:
                log.warning(
                    "attachment of message %d unreadable: %s", message.id, type(error).__name__
                )
        if not files:
            return
        try:
            await self._retrying(lambda: self._api.upload(channel, files, thread_ts=root_ts))
        except SlackFailure as error:
            log.warning("files of message %d not uploaded: %s", message.id, error.failure.code)
            names = ", ".join(name for name, _ in files)
            await self._retrying(
                lambda: self._api.post(
                    channel, f":paperclip: files not uploaded ({names})", thread_ts=root_ts
                )
            )

    def edited(self, message: Message) -> Callable[[int], Awaitable[None]]:
        async def job(conversation_id: int) -> None:
            if slack_typed_ts(message) is not None:
                return  # edited in Slack: Slack shows the edit already
            ref = await self._threads.ref_of(message.id)
            if ref is None:
                return
            conversation = await self._deps.conversations.get_conversation(conversation_id)
            channel, ts = split_ref(ref)
            text = mirrored(message, conversation.origin.channel).text
            await self._retrying(lambda: self._api.update(channel, ts, text))

        return job

    def retracted(self, message: Message) -> Callable[[int], Awaitable[None]]:
        async def job(conversation_id: int) -> None:
            if slack_typed_ts(message) is not None:
                return  # the agent deleted it in Slack themselves
            ref = await self._threads.ref_of(message.id)
            if ref is None:
                return
            channel, ts = split_ref(ref)
            await self._retrying(lambda: self._api.update(channel, ts, withdrawn(message)))

        return job

    async def _is_agents(self, message_id: int) -> bool:
        author = self._authors.get(message_id)
        if author is None:
            author = (await self._deps.conversations.get_message(message_id)).author
        return author is Author.AGENT

    def sent(self, message_id: int) -> Callable[[int], Awaitable[None]]:
        async def job(conversation_id: int) -> None:
            ref = await self._threads.ref_of(message_id)
            if ref is None or not await self._is_agents(message_id):
                return
            channel, ts = split_ref(ref)
            await self._retrying(lambda: self._api.react(channel, ts, OK))

        return job

    def failed(self, message_id: int, reason: str) -> Callable[[int], Awaitable[None]]:
        async def job(conversation_id: int) -> None:
            root = await self._threads.thread_of(conversation_id)
            if root is None:
                return
            channel, root_ts = split_ref(root)
            ref = await self._threads.ref_of(message_id)
            if ref is not None:
                await self._retrying(lambda: self._api.react(channel, split_ref(ref)[1], FAILED))
            await self._retrying(
                lambda: self._api.post(channel, failure_text(reason), thread_ts=root_ts)
            )

        return job

    def notice(self, text: str) -> Callable[[int], Awaitable[None]]:
        async def job(conversation_id: int) -> None:
            root = await self._threads.thread_of(conversation_id)
            if root is None:
                return
            channel, root_ts = split_ref(root)
            await self._retrying(lambda: self._api.post(channel, text, thread_ts=root_ts))

        return job

    # --- the root message -----------------------------------------------------------------

    async def update_root(self, conversation_id: int) -> None:
        root = await self._threads.thread_of(conversation_id)
        if root is None:
            return
        channel, ts = split_ref(root)
        text, blocks = root_message(await self._root_view(conversation_id))
        await self._retrying(lambda: self._api.update(channel, ts, text, blocks=blocks))

    async def _root_view(self, conversation_id: int) -> RootView:
        store = self._deps.conversations
        conversation = await store.get_conversation(conversation_id)
        names = await store.customer_names([conversation.customer_id])
        assignee = None
        if conversation.assignee_id is not None:
            assignee = (await self._deps.agents.get_agent(conversation.assignee_id)).name
        overdue = self._overdue.get(conversation_id)
        if conversation.first_response_at is not None:
            self._overdue.pop(conversation_id, None)
            overdue = None
        status = self._deps.queue.status(conversation)
        if status.position is not None:
            self.shown[conversation_id] = status.position
        else:
            self.shown.pop(conversation_id, None)
        return RootView(
            conversation, names.get(conversation.customer_id, "Customer"), status, assignee, overdue
        )

    # --- retries --------------------------------------------------------------------------

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """Try again on transient and setup failures, with backoff; refusals are final."""
        retrying = AsyncRetrying(
            retry=retry_if_exception(
                lambda e: isinstance(e, SlackFailure) and e.failure.kind != "refused"
            ),
            wait=wait_exponential(multiplier=0.5, max=60),
            stop=stop_after_delay(RETRY_FOR),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await call()
        raise AssertionError("unreachable: tenacity re-raises the last failure")
