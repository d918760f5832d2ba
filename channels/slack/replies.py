"""Agents answering in a conversation's thread.

A thread message becomes a public reply, an internal note or an escalation
(:mod:`channels.slack.notes` decides). Public replies are held ``hold_seconds``: deleting the
Slack message in that window withdraws the reply, editing it changes what goes out; after
the window, an edit reaches the customer as an edit where their channel can change a sent
message. A note stays a note: no edit can make it public.

Each agent message gets a reaction that says what happened to it: 🔒 kept internal (here),
✅ delivered and ⚠️ failed (by the mirror, when the delivery's outcome is known).

Only agents speak for the team: a Slack user who maps to no agent gets an ephemeral message
and nothing is stored or sent.
"""

from __future__ import annotations

import logging

from bridge.deps import ChannelDeps
from bridge.errors import BridgeError
from bridge.model import Agent, Attachment, Visibility
from channels.slack.api import SlackApi
from channels.slack.convert import MessageEvent, mentioned_users, slack_ref, to_plain
from channels.slack.files import fetch_files
from channels.slack.notes import Escalate, Note, Reply, classify
from channels.slack.settings import SlackSettings
from channels.slack.threads import Threads
from channels.slack.users import Directory

log = logging.getLogger(__name__)

NOTE, FAILED = "lock", "warning"
NOT_AN_AGENT = (
    "You are not an agent here, so nothing was sent or stored. An admin can add you with "
    "`bridge agent add NAME --email EMAIL --slack-user {user}`."
)


class ThreadReplies:
    def __init__(
        self,
        settings: SlackSettings,
        api: SlackApi,
        directory: Directory,
        threads: Threads,
        deps: ChannelDeps,
    ) -> None:
        self._settings = settings
        self._api = api
        self._directory = directory
        self._threads = threads
        self._deps = deps

    async def handle(self, event: MessageEvent, team: str) -> None:
        if not event.in_thread or event.thread_ts is None or event.user is None:
            return  # top-level talk in the support channel is not a conversation's
        conversation_id = await self._threads.conversation_of(
            slack_ref(event.channel, event.thread_ts)
        )
        if conversation_id is None:
            return  # a thread the bridge did not start
        if event.kind == "new":
            await self._new(event, conversation_id, team)
        elif event.kind == "changed":
            await self._changed(event, conversation_id, team)
        elif event.kind == "deleted":
            await self._deleted(event)

    def _classify(self, text: str) -> Note | Reply | Escalate:
        return classify(
            text,
            note_prefixes=self._settings.note_prefixes,
            default_visibility=self._settings.default_visibility,
            reply_prefix=self._settings.reply_prefix,
        )

    async def _plain(self, text: str) -> str:
        return to_plain(text, await self._directory.names(mentioned_users(text)))

    async def _tell(self, event: MessageEvent, text: str) -> None:
        assert event.user is not None
        await self._api.ephemeral(event.channel, event.user, text, thread_ts=event.thread_ts)

    async def _agent(self, event: MessageEvent) -> Agent | None:
        assert event.user is not None
        agent = await self._directory.agent_for(event.user)
        if agent is None:
            log.info("slack user %s is not an agent; thread message ignored", event.user)
            await self._tell(event, NOT_AN_AGENT.format(user=event.user))
        return agent

    # --- new messages ---------------------------------------------------------------------

    async def _new(self, event: MessageEvent, conversation_id: int, team: str) -> None:
        agent = await self._agent(event)
        if agent is None:
            return
        intent = self._classify(event.text)
        if isinstance(intent, Escalate):
            await self._escalate(event, conversation_id, agent, intent)
            return
        text = await self._plain(intent.text)
        attachments: tuple[Attachment, ...] = ()
        if event.files:
            attachments, missing = await fetch_files(self._api, self._deps.files, event.files)
            text = "\n".join([text, *missing]).strip()
        if not text and not attachments:
            await self._tell(event, "There is nothing to send in that message.")
            return
        internal = isinstance(intent, Note)
        ref = slack_ref(event.channel, event.ts)
        try:
            posted = await self._deps.service.reply(
                conversation_id,
                agent,
                text,
                internal=internal,
                client_key=f"slack:{team}:{event.ts}",
                attachments=attachments,
                hold_seconds=0.0 if internal else self._settings.hold_seconds,
            )
        except BridgeError as error:
            await self._refused(event, error)
            return
        await self._threads.set_message(posted.message.id, ref, typed=True)
        log.info(
            "agent %d wrote %s %d from Slack",
            agent.id,
            "note" if internal else "reply",
            posted.message.id,
        )
        if internal:
            await self._api.react(event.channel, event.ts, NOTE)

    async def _escalate(
        self, event: MessageEvent, conversation_id: int, agent: Agent, intent: Escalate
    ) -> None:
        tier, team = intent.tier, intent.team
        try:
            if tier is None and team is None:
                current = await self._deps.conversations.get_conversation(conversation_id)
                tier = current.tier + 1
            await self._deps.queue.escalate(
                conversation_id, agent, team=team, tier=tier, note=await self._plain(intent.note)
            )
        except BridgeError as error:
            await self._refused(event, error)
            return
        await self._api.react(event.channel, event.ts, NOTE)

    async def _refused(self, event: MessageEvent, error: BridgeError) -> None:
        await self._api.react(event.channel, event.ts, FAILED)
        await self._tell(event, f"Not done: {error}")

    # --- edits and deletions --------------------------------------------------------------

    async def _changed(self, event: MessageEvent, conversation_id: int, team: str) -> None:
        message_id = await self._threads.message_of(slack_ref(event.channel, event.ts))
        if message_id is None:
            return
        agent = await self._agent(event)
        if agent is None:
            return
        current = await self._deps.conversations.get_message(message_id)
        intent = self._classify(event.text)
        try:
            if current.visibility is Visibility.INTERNAL:
                # Whatever the new text says, a note stays a note.
                text = intent.note if isinstance(intent, Escalate) else intent.text
                await self._deps.service.edit(message_id, agent, await self._plain(text))
            elif current.retracted:
                return
            elif isinstance(intent, Reply):
                await self._deps.service.edit(message_id, agent, await self._plain(intent.text))
            else:
                await self._became_note(event, conversation_id, team, agent, message_id, intent)
        except BridgeError as error:
            await self._refused(event, error)

    async def _became_note(
        self,
        event: MessageEvent,
        conversation_id: int,
        team: str,
        agent: Agent,
        message_id: int,
        intent: Note | Escalate,
    ) -> None:
        """A public reply edited into a note: withdraw it while it is held, keep it as a note."""
        if not await self._deps.service.retract(message_id, agent):
            await self._tell(event, "That reply was already sent to the customer; it stays sent.")
            return
        text = intent.note if isinstance(intent, Escalate) else intent.text
        posted = await self._deps.service.reply(
            conversation_id,
            agent,
            await self._plain(text) or "(empty note)",
            internal=True,
            client_key=f"slack:{team}:{event.ts}:note",
        )
        await self._threads.set_message(
            posted.message.id, slack_ref(event.channel, event.ts), typed=True
        )
        await self._api.react(event.channel, event.ts, NOTE)

    async def _deleted(self, event: MessageEvent) -> None:
        message_id = await self._threads.message_of(slack_ref(event.channel, event.ts))
        if message_id is None or event.user is None:
            return
        current = await self._deps.conversations.get_message(message_id)
        if current.visibility is Visibility.INTERNAL or current.retracted:
            return  # notes stay in the conversation's history
        agent = await self._directory.agent_for(event.user)
        if agent is None:
            return
        try:
            withdrawn = await self._deps.service.retract(message_id, agent)
        except BridgeError as error:
            await self._tell(event, f"Not withdrawn: {error}")
            return
        if withdrawn:
            log.info("reply %d withdrawn from Slack by agent %d", message_id, agent.id)
            await self._tell(event, "Withdrawn: the customer will not get that reply.")
        else:
            await self._tell(
                event, "Too late to withdraw: that reply was already sent to the customer."
            )
