"""The router: one live queue, assignment within capacity, honest acknowledgements, SLA timers.

It follows committed events from the bus (customer messages, agent replies, conversation and
agent changes), keeps :class:`routing.state.RoutingState` up to date, and acts through the
store, whose transactions have the last word on capacity and on who holds a conversation.
Every action publishes its own committed snapshot, so other processes' routers (and the inbox)
follow along.

Work that depends on time (SLA breaches, conversations going idle, estimates that slipped) is
done by :meth:`Router.run_due`, which a background task calls every few seconds and tests call
directly with a manual clock.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bridge.conversations import ConversationService
from bridge.errors import Conflict, Forbidden, InvalidInput
from bridge.events import (
    AgentUpdated,
    ConversationOpened,
    ConversationReopened,
    ConversationUpdated,
    Event,
    MessageAdded,
    SlaBreached,
)
from bridge.gate import plan_deliveries
from bridge.model import (
    Agent,
    Author,
    Conversation,
    ConversationStatus,
    Presence,
    Priority,
    Visibility,
)
from bridge.ports import (
    AssignResult,
    Clock,
    ComponentState,
    ConversationStore,
    EventBus,
    Health,
    NewAgentMessage,
    QueueItem,
    QueueStatus,
    RoutingStore,
    Subscription,
)
from bridge.tasks import TaskGroup
from routing import language, stats
from routing.estimates import Estimator
from routing.hours import BusinessHours
from routing.queue import Partition, partition_of
from routing.sla import FIRST, NEXT, SlaPolicy
from routing.state import RoutingState
from routing.texts import TextContext, Texts, follow_link

log = logging.getLogger(__name__)

KINDS = frozenset(
    {
        MessageAdded.kind,
        ConversationOpened.kind,
        ConversationReopened.kind,
        ConversationUpdated.kind,
        AgentUpdated.kind,
    }
)
_WORDS = re.compile(r"[^\w/]+")


@dataclass(frozen=True, slots=True)
class RouterSettings:
    sla: SlaPolicy
    texts: Texts = field(default_factory=Texts)
    strict_fifo: bool = True
    strict_priority: bool = True
    requeue_on_offline: bool = True
    escalation_keeps_wait: bool = True
    #: Never announce more than the channel's first-response target.
    cap_at_target: bool = True
    acknowledgements: bool = True
    ack_max_per_hour: int = 3
    ack_quiet_after_reply: timedelta = timedelta(minutes=5)
    status_words: frozenset[str] = frozenset({"status", "/status", "статус", "estado"})
    status_interval: timedelta = timedelta(seconds=60)
    #: Tell a waiting customer when the estimate slips past the promise by more than this.
    delay_margin: timedelta = timedelta(minutes=2)
    #: Per channel: an answered conversation nobody wrote in for this long goes
    #: pending_customer and frees its agent's slot.
    idle_after: Mapping[str, timedelta] = field(default_factory=dict)
    bot_name: str = "Support"
    #: The team new conversations join (for a newcomer's expected wait).
    default_team: str = "support"
    hours: Mapping[str, BusinessHours] = field(default_factory=dict)
    default_hours: BusinessHours = field(default_factory=BusinessHours.always)
    sweep_interval: float = 10.0
    resync_interval: float = 300.0

    def hours_of(self, team: str) -> BusinessHours:
        return self.hours.get(team, self.default_hours)


@dataclass(slots=True)
class Wait:
    """A customer waiting for an agent, as the router tracks it."""

    conversation_id: int
    started_at: datetime
    kind: str
    promised_at: datetime | None = None
    delay_told: bool = False


@dataclass(frozen=True, slots=True)
class _Say:
    """A bot message to compose for one conversation."""

    conversation: Conversation
    kind: str
    text: str  # the customer's words it answers (for the language guess), or ""
    hint: str | None
    eta: timedelta | None = None
    opens_at: datetime | None = None
    agent: str | None = None


#: Events handled together at most: whatever queued up while the previous batch was handled.
MAX_BATCH = 512


class Router:
    def __init__(
        self,
        store: RoutingStore,
        conversations: ConversationStore,
        service: ConversationService,
        bus: EventBus,
        clock: Clock,
        settings: RouterSettings,
        *,
        live_chat: Callable[[str], bool] = lambda _source: False,
        status_url: Callable[[Conversation], Awaitable[str]] | None = None,
        estimator: Estimator | None = None,
    ) -> None:
        self._store = store
        self._conversations = conversations
        self._service = service
        self._bus = bus
        self._clock = clock
        self.settings = settings
        self._live_chat = live_chat
        #: Links acknowledgements to the customer's status page where the channel has no
        #: live view of its own (email).
        self._status_url = status_url
        self.state = RoutingState(estimator, strict_priority=settings.strict_priority)
        self._waits: dict[int, Wait] = {}
        self._sla: list[tuple[datetime, int, datetime]] = []  # (due, conversation, wait start)
        self._status_told: dict[int, datetime] = {}
        self._lock = asyncio.Lock()
        self._tasks = TaskGroup("router")
        self._subscription: Subscription | None = None
        self._running = False
        self._handling = False
        self._last_resync: datetime | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._running:
            return
        self._subscription = self._bus.subscribe(KINDS)
        await self.resync()
        now = self._clock.now()
        for team, seconds in await self._store.handling_times(now - timedelta(days=7)):
            self.state.estimator.observe_handling(team, seconds)
        self._running = True
        self._tasks.spawn(self._follow(self._subscription), "events")
        self._tasks.spawn(self._tick(), "timers")
        await self.dispatch()

    async def stop(self) -> None:
        self._running = False
        if self._subscription is not None:
            await self._subscription.close()
        await self._tasks.cancel_all()

    def state_of(self) -> ComponentState:
        if not self._running:
            return ComponentState(Health.STOPPED)
        online = sum(1 for a in self.state.agents.values() if a.agent.presence is Presence.ONLINE)
        return ComponentState(Health.OK, f"{len(self.state.queue)} queued, {online} agents online")

    async def resync(self) -> None:
        """Rebuild the view from the store (at start, and now and then against drift)."""
        now = self._clock.now()
        queued = await self._store.queued()
        assigned = await self._store.assigned()
        loads = await self._store.agent_loads()
        waits = await self._store.open_waits()
        async with self._lock:
            self.state.held.clear()
            for entry in loads:
                self.state.set_agent(entry.agent, 0)
            self.state.queue.reset(queued)
            for conversation in assigned:
                self.state.apply(conversation, now)
            by_id = {c.id: c for c in [*queued, *assigned]}
            told = {cid for cid, w in self._waits.items() if w.delay_told}
            self._waits.clear()
            self._sla.clear()
            for wait in waits:
                self._waits[wait.conversation_id] = Wait(
                    wait.conversation_id,
                    wait.started_at,
                    wait.kind,
                    wait.promised_at,
                    delay_told=wait.conversation_id in told,
                )
                waiting = by_id.get(wait.conversation_id)
                if waiting is not None and wait.breached_at is None:
                    self._watch(waiting, self._waits[wait.conversation_id])
        self._last_resync = now

    async def _follow(self, subscription: Subscription) -> None:
        # Events are taken in batches (whatever queued up while the previous batch was being
        # handled), so the acknowledgements of a burst of new conversations are claimed and
        # posted in one transaction each rather than several per customer.
        events = aiter(subscription)
        while True:
            try:
                batch = [await anext(events)]
                while subscription.backlog() and len(batch) < MAX_BATCH:
                    batch.append(await anext(events))
            except StopAsyncIteration:
                return
            self._handling = True
            try:
                await self.handle_batch(batch)
            finally:
                self._handling = False

    async def settle(self, timeout: float = 10.0) -> None:
        """Return once every event published so far has been handled (tests, benchmarks)."""
        async with asyncio.timeout(timeout):
            while True:
                await asyncio.sleep(0)
                subscription = self._subscription
                if not self._handling and (subscription is None or not subscription.backlog()):
                    # One more turn: a handler may have published events of its own.
                    await asyncio.sleep(0)
                    if not self._handling and (subscription is None or not subscription.backlog()):
                        return

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval)
            try:
                await self.run_due()
            except Exception:
                log.exception("router timers failed")

    # --- events ---------------------------------------------------------------------------

    async def handle(self, event: Event) -> None:
        acks: list[MessageAdded] = []
        await self._handle(event, acks)
        await self._acknowledge(acks)

    async def handle_batch(self, events: Sequence[Event]) -> None:
        """Handle events in order, one failing without stopping the others; acknowledgements
        due are sent together at the end."""
        acks: list[MessageAdded] = []
        for event in events:
            try:
                await self._handle(event, acks)
            except Exception:
                log.exception("router failed on %s", event.kind)
        try:
            await self._acknowledge(acks)
        except Exception:
            log.exception("acknowledging %d conversations failed", len(acks))

    async def _handle(self, event: Event, acks: list[MessageAdded]) -> None:
        now = self._clock.now()
        if isinstance(event, MessageAdded):
            await self._on_message(event, now, acks)
        elif isinstance(event, ConversationOpened | ConversationReopened | ConversationUpdated):
            await self._on_conversation(event.conversation, now)
        elif isinstance(event, AgentUpdated):
            await self._on_agent(event.agent, now)

    async def _on_message(
        self, event: MessageAdded, now: datetime, acks: list[MessageAdded]
    ) -> None:
        conversation, message = event.conversation, event.message
        freed = self._apply(conversation, now)
        if message.author is Author.CUSTOMER:
            if conversation.waiting_since is not None and conversation.id not in self._waits:
                kind = FIRST if conversation.first_response_at is None else NEXT
                wait = Wait(conversation.id, message.created_at, kind)
                self._waits[conversation.id] = wait
                self._watch(conversation, wait)
            await self.dispatch([partition_of(conversation)])
            if event.opened or event.reopened:
                acks.append(event)
            elif self._asks_status(message.text):
                await self._tell_status(conversation.id, message.text, now)
        elif message.author is Author.AGENT and message.visibility is Visibility.PUBLIC:
            self.state.answered(conversation.id, now)
            self._waits.pop(conversation.id, None)
        if freed is not None:
            await self._dispatch_for(freed.agent_id)

    async def _on_conversation(self, conversation: Conversation, now: datetime) -> None:
        freed = self._apply(conversation, now)
        if conversation.status is ConversationStatus.RESOLVED:
            self._waits.pop(conversation.id, None)
        if conversation.status is ConversationStatus.QUEUED:
            await self.dispatch([partition_of(conversation)])
        if freed is not None:
            await self._dispatch_for(freed.agent_id)

    async def _on_agent(self, agent: Agent, now: datetime) -> None:
        self.state.set_agent(agent)
        if agent.presence is Presence.OFFLINE and self.settings.requeue_on_offline:
            moved = await self._store.requeue_agent(agent.id, now)
            for conversation in moved:
                self._apply(conversation, now)
            if moved:
                log.info("agent %d went offline; %d conversations requeued", agent.id, len(moved))
                await self._bus.publish([ConversationUpdated(c, "requeued") for c in moved])
        if agent.presence is Presence.ONLINE:
            await self._dispatch_for(agent.id)

    def _apply(self, conversation: Conversation, now: datetime) -> Any:
        return self.state.apply(conversation, now)

    # --- assignment -----------------------------------------------------------------------

    async def dispatch(self, partitions: Iterable[Partition] | None = None) -> int:
        """Hand out queue heads to agents with room until nobody can take more."""
        assigned = 0
        chosen = list(partitions) if partitions is not None else None
        async with self._lock:
            for _ in range(50):  # each round either assigns or learns why it could not
                pairs = self.state.plan(chosen)
                if not pairs:
                    break
                setback = False
                for conversation, agent in pairs:
                    now = self._clock.now()
                    result, updated = await self._store.assign(
                        conversation.id, agent.id, agent.capacity, now
                    )
                    if result is AssignResult.ASSIGNED and updated is not None:
                        self.state.apply(updated, now)
                        assigned += 1
                        await self._bus.publish([ConversationUpdated(updated, "assigned")])
                        continue
                    setback = True
                    if result is AssignResult.FULL:
                        # Another process filled the agent: believe the store.
                        self.state.set_agent(agent, agent.capacity)
                    else:
                        fresh = await self._conversations.get_conversation(conversation.id)
                        self.state.apply(fresh, now)
                    break
                if not setback:
                    break
        return assigned

    async def _dispatch_for(self, agent_id: int) -> None:
        view = self.state.agents.get(agent_id)
        if view is None:
            return
        await self.dispatch([p for p in self.state.queue.partitions() if view.serves(p)])

    async def take_next(self, agent: Agent) -> Conversation | None:
        async with self._lock:
            now = self._clock.now()
            result, taken = await self._store.take_next(
                agent.id,
                agent.teams,
                agent.tier,
                agent.capacity,
                now,
                by_priority=self.settings.strict_priority,
            )
            if result is AssignResult.FULL:
                raise Conflict(
                    f"you already hold {agent.capacity} conversations, your capacity: "
                    "resolve one or hand it on first"
                )
            if taken is None:
                return None
            self.state.apply(taken, now)
        await self._bus.publish([ConversationUpdated(taken, "assigned")])
        return taken

    async def assign(
        self, conversation_id: int, actor: Agent, agent_id: int | None = None
    ) -> Conversation:
        target_id = agent_id if agent_id is not None else actor.id
        if target_id != actor.id and not actor.is_supervisor:
            raise Forbidden("only supervisors assign conversations to someone else")
        conversation = await self._conversations.get_conversation(conversation_id)
        if conversation.status is ConversationStatus.RESOLVED:
            raise Conflict(f"conversation {conversation_id} is resolved: reopen it first")
        target = await self._agent(target_id)
        if conversation.status is not ConversationStatus.QUEUED:
            if not actor.is_supervisor:
                raise Conflict(f"conversation {conversation_id} is not waiting in the queue")
            # A supervisor hands it over: back to its place in line, then to the agent.
            conversation = await self._store.transfer(
                conversation.id,
                conversation.team,
                conversation.tier,
                self._clock.now(),
                keep_wait=True,
            )
            self.state.apply(conversation, self._clock.now())
        elif self.settings.strict_fifo and not actor.is_supervisor:
            head = self.state.queue.head(partition_of(conversation))
            if head is not None and head.id != conversation.id:
                raise Forbidden(
                    "strict first-come-first-served: take the head of your queue with "
                    "POST /api/queue/next"
                )
        async with self._lock:
            now = self._clock.now()
            result, updated = await self._store.assign(
                conversation.id, target_id, target.capacity, now
            )
            if result is AssignResult.FULL:
                raise Conflict(f"agent {target_id} is at capacity ({target.capacity})")
            if updated is None:
                raise Conflict(f"conversation {conversation_id} was taken meanwhile")
            self.state.apply(updated, now)
        await self._bus.publish([ConversationUpdated(updated, "assigned")])
        return updated

    async def escalate(
        self,
        conversation_id: int,
        actor: Agent,
        *,
        team: str | None,
        tier: int | None,
        note: str,
    ) -> Conversation:
        if not note.strip():
            raise InvalidInput("a handoff note is required: what should the next agent know?")
        current = await self._conversations.get_conversation(conversation_id)
        target_team = team or current.team
        target_tier = tier or current.tier
        if (target_team, target_tier) == (current.team, current.tier):
            raise InvalidInput("escalate to another team or tier than the current one")
        if target_tier < 1:
            raise InvalidInput("tier must be 1 or more")
        await self._service.reply(conversation_id, actor, f"Handoff: {note.strip()}", internal=True)
        moved = await self._store.transfer(
            conversation_id,
            target_team,
            target_tier,
            self._clock.now(),
            keep_wait=self.settings.escalation_keeps_wait,
        )
        self._apply(moved, self._clock.now())
        await self._bus.publish([ConversationUpdated(moved, "escalated")])
        log.info(
            "conversation %d escalated by agent %d to %s tier %d",
            conversation_id,
            actor.id,
            target_team,
            target_tier,
        )
        await self._notify(moved, "escalated")
        await self.dispatch([partition_of(moved)])
        return await self._conversations.get_conversation(conversation_id)

    async def reopen(self, conversation_id: int, actor: Agent) -> Conversation:
        """Reopen for the agent who asks: theirs at once when they have room (reopening is
        not taking from the line), else back in the queue."""
        current = await self._conversations.get_conversation(conversation_id)
        if current.status is not ConversationStatus.RESOLVED:
            raise Conflict(f"conversation {conversation_id} is not resolved")
        agent = await self._agent(actor.id)
        async with self._lock:  # no dispatch may hand it to someone else in between
            now = self._clock.now()
            moved = await self._store.transfer(
                conversation_id, current.team, current.tier, now, keep_wait=False
            )
            self.state.apply(moved, now)
            result, taken = await self._store.assign(moved.id, actor.id, agent.capacity, now)
            final = taken if result is AssignResult.ASSIGNED and taken is not None else moved
            self.state.apply(final, now)
        await self._bus.publish([ConversationUpdated(final, "reopened")])
        if final.status is ConversationStatus.QUEUED:
            await self.dispatch([partition_of(final)])
        return final

    async def _agent(self, agent_id: int) -> Agent:
        """An agent as the store knows it (one added since the router started included)."""
        view = self.state.agents.get(agent_id)
        if view is not None:
            return view.agent
        found = await self._store.agent_load(agent_id)
        if found.agent.id not in self.state.agents:
            self.state.set_agent(found.agent, self.state.load_of(found.agent.id))
        return found.agent

    async def set_presence(self, agent: Agent, presence: Presence) -> Agent:
        updated = await self._store.set_presence(agent.id, presence, self._clock.now())
        await self._bus.publish([AgentUpdated(updated)])
        return updated

    # --- what customers and agents are told -----------------------------------------------

    def queue(
        self, *, team: str | None = None, tier: int | None = None, limit: int = 200
    ) -> tuple[list[QueueItem], int]:
        now = self._clock.now()
        partitions = [
            p
            for p in self.state.queue.partitions()
            if (team is None or p[0] == team) and (tier is None or p[1] == tier)
        ]
        items: list[QueueItem] = []
        for partition in partitions:
            line = list(self.state.queue.in_order(partition, limit))
            estimates = self.state.line_estimates(partition, len(line), now)
            for (position, conversation), estimate in zip(line, estimates, strict=True):
                waiting = conversation.waiting_since or now
                items.append(
                    QueueItem(
                        conversation,
                        position,
                        max(0.0, (now - waiting).total_seconds()),
                        # Agents see the estimate itself; the cap at the channel's target is
                        # a promise to customers, and would scramble a mixed-channel line.
                        estimate.announced if estimate else None,
                    )
                )
        strict = self.settings.strict_priority
        items.sort(
            key=lambda i: (
                int(i.conversation.priority) if strict else 0,
                i.conversation.waiting_since or now,
                i.conversation.id,
            )
        )
        total = sum(self.state.queue.length(p) for p in partitions)
        return items[:limit], total

    def status(self, conversation: Conversation) -> QueueStatus:
        now = self._clock.now()
        position = self.state.queue.position(conversation.id)
        eta = None
        agent_name = None
        if position is not None or conversation.status is ConversationStatus.ASSIGNED:
            current = self.state.queue.get(conversation.id) or conversation
            estimate = self.state.estimate(current, now)
            if estimate is not None:
                eta = self._announceable(conversation, estimate.announced)
            else:
                # Nobody serves the line right now: the channel's target is what we promise,
                # as in the acknowledgement.
                eta = self.settings.sla.target(
                    conversation.origin.channel, conversation.priority, FIRST
                )
        if conversation.assignee_id is not None:
            view = self.state.agents.get(conversation.assignee_id)
            if view is not None:
                agent_name = first_name(view.agent.name)
        return QueueStatus(conversation.status, position, eta, agent_name)

    def expected_wait(self, channel: str, team: str | None = None) -> float:
        """What a conversation opened now on ``channel`` would be promised: the estimate for
        the back of the team's first-tier line, capped like an acknowledgement; the channel's
        target when nobody serves the line."""
        now = self._clock.now()
        partition = (team or self.settings.default_team, 1)
        position = self.state.queue.length(partition) + 1
        free, busy = self.state.slots(partition, now)
        estimate = self.state.estimator.estimate(
            team=partition[0], position=position, free_slots=free, busy=busy, agent_id=None
        )
        target = self.settings.sla.target(channel, Priority.NORMAL, FIRST)
        if estimate is None:
            return target
        return (
            min(estimate.announced, target) if self.settings.cap_at_target else estimate.announced
        )

    def _announceable(self, conversation: Conversation, seconds: float) -> float:
        if not self.settings.cap_at_target:
            return seconds
        target = self.settings.sla.target(conversation.origin.channel, conversation.priority, FIRST)
        return min(seconds, target)

    async def _acknowledge(self, events: Sequence[MessageAdded]) -> None:
        """Acknowledge new waiting periods: one read of the customers' recent promises, one
        transaction claiming the promises, one posting the messages, however many there are."""
        settings = self.settings
        if not events or not settings.acknowledgements or settings.ack_max_per_hour <= 0:
            return
        now = self._clock.now()
        wanted: list[MessageAdded] = []
        seen: set[int] = set()
        for event in events:
            conversation = event.conversation
            if not event.auto_reply_allowed or conversation.id in seen:
                continue
            seen.add(conversation.id)
            if event.reopened:
                answered = await self._store.last_answer_at(conversation.id)
                if answered is not None and now - answered < settings.ack_quiet_after_reply:
                    continue
            wanted.append(event)
        if not wanted:
            return
        made = await self._store.promises_since_many(
            [e.conversation.customer_id for e in wanted], now - timedelta(hours=1)
        )
        planned: list[tuple[_Say, datetime]] = []
        for event in wanted:
            conversation = event.conversation
            customer_id = conversation.customer_id
            if made.get(customer_id, 0) >= settings.ack_max_per_hour:
                log.info("acknowledgement cap reached for customer %d", customer_id)
                continue
            made[customer_id] = made.get(customer_id, 0) + 1
            current = self.state.queue.get(conversation.id) or conversation
            hours = settings.hours_of(conversation.team)
            target = settings.sla.target(conversation.origin.channel, conversation.priority, FIRST)
            opens_at = None
            if not hours.is_open(now):
                kind = "ack_closed"
                opens_at = hours.next_open(now)
                eta = target
            else:
                kind = "ack"
                estimate = self.state.estimate(current, now)
                # Nobody online to serve it: the channel's target is the only honest promise.
                eta = (
                    target if estimate is None else self._announceable(current, estimate.announced)
                )
            say = _Say(
                conversation,
                kind,
                event.message.text,
                event.language_hint,
                eta=timedelta(seconds=eta),
                opens_at=opens_at,
            )
            planned.append((say, hours.add_open_time(now, eta)))
        if not planned:
            return
        news = await self._compose([say for say, _ in planned])
        promised = {say.conversation.id: at for say, at in planned}
        # The promise and its message in one transaction: a crash between the two would
        # leave a waiting period marked acknowledged that no customer was told about.
        try:
            posted = await self._store.acknowledge(
                [(new, promised[new.conversation_id]) for new in news], plan_deliveries, now
            )
        except Exception:
            if len(news) <= 1:
                raise
            # One bad conversation (resolved and purged meanwhile, say) must not silence the
            # others: one by one, so only the culprit is lost (and logged).
            log.warning("acknowledging %d conversations together failed; one by one", len(news))
            posted = []
            for new in news:
                try:
                    posted += await self._store.acknowledge(
                        [(new, promised[new.conversation_id])], plan_deliveries, now
                    )
                except Exception:
                    log.exception("acknowledging conversation %d failed", new.conversation_id)
        for one in posted:
            wait = self._waits.get(one.conversation.id)
            if wait is not None:
                wait.promised_at = promised[one.conversation.id]
        await self._service.announce(posted)

    def _asks_status(self, text: str) -> bool:
        words = [w for w in _WORDS.split(text.lower()) if w]
        return len(words) <= 2 and any(w in self.settings.status_words for w in words)

    async def _tell_status(self, conversation_id: int, text: str, now: datetime) -> None:
        current = self.state.queue.get(conversation_id)
        conversation = current or await self._conversations.get_conversation(conversation_id)
        if not self._live_chat(conversation.origin.source):
            return
        told = self._status_told.get(conversation_id)
        if told is not None and now - told < self.settings.status_interval:
            return
        self._status_told[conversation_id] = now
        status = self.status(conversation)
        if status.position is not None:
            eta = status.eta_seconds
            await self._say(
                conversation,
                "position",
                text,
                None,
                eta=timedelta(seconds=eta if eta is not None else 0),
            )
        elif status.agent_first_name is not None:
            await self._say(conversation, "assigned", text, None, agent=status.agent_first_name)

    async def _notify(self, conversation: Conversation, kind: str) -> None:
        await self._say(conversation, kind, "", None)

    async def _say(
        self,
        conversation: Conversation,
        kind: str,
        text: str,
        hint: str | None,
        *,
        eta: timedelta | None = None,
        opens_at: datetime | None = None,
        agent: str | None = None,
    ) -> None:
        await self._say_all(
            [_Say(conversation, kind, text, hint, eta=eta, opens_at=opens_at, agent=agent)]
        )

    async def _say_all(self, says: Sequence[_Say]) -> None:
        """Bot messages in each customer's language, through the outbox like any reply."""
        news = await self._compose(says)
        try:
            await self._service.post_many(news)
        except Exception:
            if len(news) <= 1:
                raise
            # One bad conversation (resolved and purged meanwhile, say) must not silence the
            # others: post them one by one, so only the culprit is lost (and logged).
            log.warning("posting %d bot messages together failed; one by one", len(news))
            for new in news:
                try:
                    await self._service.post(new)
                except Exception:
                    log.exception("telling conversation %d failed", new.conversation_id)

    async def _compose(self, says: Sequence[_Say]) -> list[NewAgentMessage]:
        """Each bot message's text, in its customer's language."""
        if not says:
            return []
        customers = await self._conversations.get_customers(
            [say.conversation.customer_id for say in says]
        )
        news: list[NewAgentMessage] = []
        for say in says:
            conversation = say.conversation
            customer = customers.get(conversation.customer_id)
            if customer is None:
                log.warning("conversation %d: its customer is gone", conversation.id)
                continue
            chosen = language.choose(hint=say.hint, stored=customer.language, text=say.text)
            hours = self.settings.hours_of(conversation.team)
            context = TextContext(
                reference=conversation.reference,
                position=self.state.queue.position(conversation.id) or 1,
                eta=say.eta,
                opens_at=say.opens_at,
                customer_timezone=customer.timezone,
                team_timezone=hours.zone.key,
                now=self._clock.now(),
                agent=say.agent,
            )
            body = self.settings.texts.render(say.kind, chosen, context)
            if (
                say.kind in ("ack", "ack_closed")
                and self._status_url is not None
                and not self._live_chat(conversation.origin.source)
            ):
                body += "\n\n" + follow_link(chosen, await self._status_url(conversation))
            news.append(
                NewAgentMessage(
                    conversation_id=conversation.id,
                    author=Author.BOT,
                    author_id=None,
                    author_name=self.settings.bot_name,
                    text=body,
                    visibility=Visibility.PUBLIC,
                )
            )
            log.info("telling conversation %d: %s (%s)", conversation.id, say.kind, chosen)
        return news

    # --- time -----------------------------------------------------------------------------

    def _watch(self, conversation: Conversation, wait: Wait) -> None:
        hours = self.settings.hours_of(conversation.team)
        due = self.settings.sla.due(
            conversation.origin.channel, conversation.priority, wait.kind, wait.started_at, hours
        )
        heapq.heappush(self._sla, (due, conversation.id, wait.started_at))

    async def run_due(self) -> None:
        """SLA breaches, idle conversations, slipped estimates, and a safety-net dispatch."""
        now = self._clock.now()
        await self._breaches(now)
        await self._idle(now)
        await self._delays(now)
        if (
            self._last_resync is None
            or (now - self._last_resync).total_seconds() >= self.settings.resync_interval
        ):
            await self.resync()
        await self.dispatch()

    async def _breaches(self, now: datetime) -> None:
        while self._sla and self._sla[0][0] <= now:
            due, conversation_id, started_at = heapq.heappop(self._sla)
            wait = self._waits.get(conversation_id)
            if wait is None or wait.started_at != started_at:
                continue  # answered (or a newer wait) meanwhile
            if not await self._store.mark_breached(conversation_id, started_at, now):
                continue
            conversation = await self._conversations.get_conversation(conversation_id)
            log.warning("SLA breached: conversation %d (%s response)", conversation_id, wait.kind)
            await self._bus.publish(
                [
                    SlaBreached(
                        conversation_id,
                        wait.kind,
                        conversation.origin.channel,
                        conversation.team,
                        started_at,
                        due,
                    )
                ]
            )

    async def _idle(self, now: datetime) -> None:
        for channel, after in self.settings.idle_after.items():
            for conversation_id in await self._store.idle_assigned(channel, now - after):
                pending = await self._store.set_pending(conversation_id, now)
                if pending is None:
                    continue
                freed = self._apply(pending, now)
                await self._bus.publish([ConversationUpdated(pending, "pending_customer")])
                if freed is not None:
                    await self._dispatch_for(freed.agent_id)

    async def _delays(self, now: datetime) -> None:
        for wait in list(self._waits.values()):
            if wait.promised_at is None or wait.delay_told:
                continue
            conversation = self.state.queue.get(wait.conversation_id)
            if conversation is None or not self._live_chat(conversation.origin.source):
                continue
            estimate = self.state.estimate(conversation, now)
            if estimate is None:
                continue
            expected = now + timedelta(seconds=estimate.median)
            if expected <= wait.promised_at + self.settings.delay_margin:
                continue
            wait.delay_told = True
            await self._say(
                conversation,
                "delayed",
                "",
                None,
                eta=timedelta(seconds=estimate.announced),
            )

    # --- reports --------------------------------------------------------------------------

    async def stats(self, since: datetime) -> dict[str, Any]:
        now = self._clock.now()
        records = await self._store.waits_since(since)
        report = stats.report(records, now)
        agents = list(self.state.agents.values())
        report["live"] = {
            "queue_length": len(self.state.queue),
            "oldest_wait_seconds": _age(self.state.queue.oldest_wait(), now),
            "by_partition": [
                {
                    "team": team,
                    "tier": tier,
                    "length": self.state.queue.length((team, tier)),
                    "oldest_wait_seconds": _age(self.state.queue.oldest_wait((team, tier)), now),
                }
                for team, tier in sorted(self.state.queue.partitions())
            ],
            "agents_online": sum(1 for a in agents if a.agent.presence is Presence.ONLINE),
            "agents": [
                {
                    "id": a.agent.id,
                    "name": a.agent.name,
                    "presence": a.agent.presence.value,
                    "load": a.load,
                    "capacity": a.agent.capacity,
                }
                for a in agents
            ],
        }
        report["since"] = since.isoformat()
        return report


def first_name(name: str) -> str:
    return name.split()[0] if name.split() else name


def _age(since: datetime | None, now: datetime) -> float | None:
    return None if since is None else round(max(0.0, (now - since).total_seconds()), 1)
