"""The root message's buttons, the escalation form and ``/queue``.

Buttons follow the router's rules: Take asks the router to assign the conversation to the
agent who clicked, and the router refuses what the queue policy forbids (strict first come,
first served; capacity); the refusal is shown to that agent only (ephemeral). Escalate opens
a form for the tier, team and the handoff note the router requires. State changes reach the
root message through the mirror, like changes made anywhere else.

``/queue`` answers privately with the queue's length, the oldest wait, agents online and SLA
breaches in the last 24 hours; ``/queue next`` takes the head of the caller's queue.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

from bridge.deps import ChannelDeps
from bridge.errors import BridgeError
from bridge.model import Agent
from channels.slack.api import SlackApi, SlackFailure
from channels.slack.blocks import (
    ESCALATE,
    REOPEN,
    RESOLVE,
    TAKE,
    escalation_modal,
    parse_escalation,
    queue_report,
)
from channels.slack.replies import NOT_AN_AGENT
from channels.slack.users import Directory

log = logging.getLogger(__name__)

Respond = Callable[[str], Awaitable[None]]


class Actions:
    def __init__(self, api: SlackApi, directory: Directory, deps: ChannelDeps) -> None:
        self._api = api
        self._directory = directory
        self._deps = deps

    async def button(self, body: Mapping[str, Any]) -> None:
        """A click on Take, Resolve, Escalate or Reopen (``block_actions``)."""
        user = str((body.get("user") or {}).get("id", ""))
        channel = str((body.get("channel") or {}).get("id", ""))
        container = body.get("container") or {}
        thread_ts = container.get("thread_ts") or container.get("message_ts")
        actions = body.get("actions") or []
        if not user or not actions:
            return
        action = actions[0]
        action_id = str(action.get("action_id", ""))
        value = str(action.get("value", ""))

        async def tell(text: str) -> None:
            if channel:
                await self._api.ephemeral(channel, user, text, thread_ts=thread_ts)

        agent = await self._directory.agent_for(user)
        if agent is None:
            await tell(NOT_AN_AGENT.format(user=user))
            return
        if not value.isdigit():
            return
        conversation_id = int(value)
        log.info("agent %d pressed %s on conversation %d", agent.id, action_id, conversation_id)
        try:
            await self._act(action_id, conversation_id, agent, str(body.get("trigger_id", "")))
        except BridgeError as error:
            await tell(f"Not done: {error}")
        except SlackFailure as error:
            await tell(f"Slack refused: {error.failure.code}")

    async def _act(self, action_id: str, conversation_id: int, agent: Agent, trigger: str) -> None:
        if action_id == TAKE:
            await self._deps.queue.assign(conversation_id, agent)
        elif action_id == RESOLVE:
            await self._deps.service.resolve(conversation_id, agent)
        elif action_id == REOPEN:
            await self._deps.queue.reopen(conversation_id, agent)
        elif action_id == ESCALATE:
            conversation = await self._deps.conversations.get_conversation(conversation_id)
            await self._api.open_view(trigger, escalation_modal(conversation))

    async def escalation(self, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The escalation form was submitted. Returns the field errors to show in the form
        (``response_action: errors``), or None when it went through."""
        user = str((body.get("user") or {}).get("id", ""))
        view = body.get("view") or {}
        values = (view.get("state") or {}).get("values") or {}
        form, errors = parse_escalation(str(view.get("private_metadata", "")), values)
        if form is None:
            return {"response_action": "errors", "errors": errors}
        agent = await self._directory.agent_for(user)
        if agent is None:
            return {"response_action": "errors", "errors": {"note": "You are not an agent here."}}
        try:
            await self._deps.queue.escalate(
                form.conversation_id, agent, team=form.team, tier=form.tier, note=form.note
            )
        except BridgeError as error:
            return {"response_action": "errors", "errors": {"note": str(error)}}
        return None

    async def queue_command(self, body: Mapping[str, Any], respond: Respond) -> None:
        """``/queue`` and ``/queue next``."""
        user = str(body.get("user_id", ""))
        if str(body.get("text", "")).strip().lower() == "next":
            agent = await self._directory.agent_for(user)
            if agent is None:
                await respond(NOT_AN_AGENT.format(user=user))
                return
            try:
                taken = await self._deps.queue.take_next(agent)
            except BridgeError as error:
                await respond(f"Not done: {error}")
                return
            await respond(
                f"You have {taken.reference} now." if taken else "Nobody is waiting for you."
            )
            return
        items, length = self._deps.queue.queue(limit=200)
        stats = await self._deps.queue.stats(self._deps.clock.now() - timedelta(hours=24))
        live = stats.get("live") or {}
        overall = stats.get("overall") or {}
        breaches = overall.get("sla_breaches")
        await respond(queue_report(items, length, live, breaches))
