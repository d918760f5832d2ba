"""The ports: what the core needs from storage, the bus and the channels.

Each is a small Protocol so that the in-memory twin used in a test and the real SQLite,
PostgreSQL or Redis implementation are interchangeable, and one contract suite runs against
all of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol

from bridge.events import Event
from bridge.gate import PlannedDelivery
from bridge.inbound import InboundEdit, InboundMessage, IngestResult
from bridge.model import (
    Agent,
    Attachment,
    Author,
    Conversation,
    ConversationStatus,
    Customer,
    Delivery,
    Message,
    Presence,
    Priority,
    Role,
    ThreadRef,
    Visibility,
)
from bridge.outbound import Capabilities, OutboundMessage, SentReceipt


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class Health(StrEnum):
    OK = "ok"
    STARTING = "starting"
    DEGRADED = "degraded"
    DOWN = "down"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class ComponentState:
    """One line of ``/readyz``: a component's health and, when not ok, what to do about it."""

    health: Health
    detail: str = ""

    @property
    def ready(self) -> bool:
        return self.health is Health.OK

    @property
    def serving(self) -> bool:
        """Degraded still serves: messages are late, not lost (a platform rate limits, Redis
        is away), so a load balancer must keep sending customers to this process."""
        return self.health in (Health.OK, Health.DEGRADED)


# --- storage -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ConversationPolicy:
    """How the ingest step picks a conversation for a customer message."""

    #: A message after resolve reopens the conversation within this window; later it starts
    #: a new conversation linked to the old one.
    reopen_window: timedelta
    default_team: str = "support"
    default_tier: int = 1
    default_priority: Priority = Priority.NORMAL
    #: Where a conversation that waited on the customer re-enters the queue when they write:
    #: "front" keeps the place it had from when it started, "arrival" joins at the end.
    returning_position: Literal["front", "arrival"] = "front"


class IngestStore(Protocol):
    async def ingest_batch(
        self, items: Sequence[InboundMessage], policy: ConversationPolicy, now: datetime
    ) -> list[IngestResult]:
        """Store a batch of customer messages in one transaction.

        Dedupes on (channel account, external id), resolves customers and conversations in
        order, and returns one result per item in the same order. A duplicate within the batch
        resolves to the first occurrence.
        """
        ...


@dataclass(frozen=True, slots=True)
class NewAgentMessage:
    conversation_id: int
    author: Author
    author_id: int | None
    author_name: str
    text: str
    visibility: Visibility
    #: The caller's id for this request (an ``Idempotency-Key``); a repeat returns the first
    #: message instead of writing a second one.
    client_key: str | None = None
    attachments: tuple[Attachment, ...] = ()
    #: The customer message this answers (channels that can quote it, do).
    reply_to_id: int | None = None
    #: Hold the deliveries until then (a reply from Slack can still be withdrawn or edited).
    send_after: datetime | None = None


@dataclass(frozen=True, slots=True)
class PostedMessage:
    message: Message
    conversation: Conversation
    deliveries: tuple[Delivery, ...]
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryView:
    """A delivery's state as agents see it next to the message."""

    delivery_id: int
    message_id: int
    state: str
    attempts: int
    last_error: str | None
    external_id: str | None


@dataclass(frozen=True, slots=True)
class ConversationPage:
    items: tuple[Conversation, ...]
    next_before: int | None  # pass as ``before`` to get the next (older) page


class ConversationStore(Protocol):
    async def get_conversation(self, conversation_id: int) -> Conversation: ...

    async def get_customer(self, customer_id: int) -> Customer: ...

    async def get_customers(self, customer_ids: Sequence[int]) -> dict[int, Customer]:
        """The customers found among ``customer_ids``, by id."""
        ...

    async def customer_names(self, customer_ids: Sequence[int]) -> dict[int, str]: ...

    async def list_conversations(
        self,
        *,
        status: ConversationStatus | None = None,
        assignee_id: int | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> ConversationPage: ...

    async def messages(self, conversation_id: int) -> list[Message]:
        """The whole history, notes included, oldest first (for agents only)."""
        ...

    async def deliveries_for(self, conversation_id: int) -> list[DeliveryView]: ...

    async def post_message(
        self, new: NewAgentMessage, plan: PlanDeliveries, now: datetime
    ) -> PostedMessage:
        """Store an agent, bot or system message, and its deliveries when it is public."""
        ...

    async def post_messages(
        self, news: Sequence[NewAgentMessage], plan: PlanDeliveries, now: datetime
    ) -> list[PostedMessage]:
        """:meth:`post_message` for many, in one transaction (all stored, or none)."""
        ...

    async def set_status(
        self, conversation_id: int, status: ConversationStatus, now: datetime
    ) -> Conversation: ...

    async def edit_message(self, message_id: int, text: str, now: datetime) -> Message:
        """Change a message's text, keeping the previous text in its history (edits never
        overwrite silently). An unchanged text records nothing."""
        ...

    async def edit_public(
        self,
        message_id: int,
        text: str,
        now: datetime,
        plan: PlanEdits,
    ) -> tuple[Message, Conversation, tuple[Delivery, ...]]:
        """An agent's edit: the new text, plus the gate's edit deliveries for what was already
        sent (none when the text did not change)."""
        ...

    async def edit_by_external(
        self, source: str, external_id: str, text: str, now: datetime
    ) -> tuple[Message, Conversation] | None:
        """A customer's edit of the message the platform knows as ``external_id``."""
        ...

    async def retract(self, message_id: int, now: datetime) -> tuple[Message, bool]:
        """Withdraw a held reply: cancel its deliveries if none has gone out or is going out.
        The flag says whether it was withdrawn (False: too late, it was sent)."""
        ...

    async def get_message(self, message_id: int) -> Message: ...

    async def message_by_external(self, source: str, external_id: str) -> Message | None: ...

    async def messages_after(self, after_id: int, limit: int) -> list[Message]:
        """Messages of every conversation after ``after_id``, notes included, oldest first
        (for agent-side mirrors catching up after a restart)."""
        ...


class PlanEdits(Protocol):
    """The gate's :func:`bridge.gate.plan_edits`, bound to which destinations can edit."""

    def __call__(
        self, message: Message, sent: Sequence[Delivery]
    ) -> tuple[PlannedDelivery, ...]: ...


class PlanDeliveries(Protocol):
    """The gate's signature, passed into the store so the store never invents deliveries."""

    def __call__(
        self, message: Message, conversation: Conversation
    ) -> tuple[PlannedDelivery, ...]: ...


class CustomerHistory(Protocol):
    async def thread_messages(
        self, thread: ThreadRef, after_id: int, limit: int, *, now: datetime
    ) -> list[Message]:
        """Messages of every conversation on ``thread`` after ``after_id``, oldest first.

        Internal notes, withdrawn replies and replies still held back (until ``now``) are
        left out by the query; callers still pass the result through
        :func:`bridge.gate.customer_view`.
        """
        ...

    async def current_conversation(self, thread: ThreadRef) -> Conversation | None: ...


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery claimed by one dispatcher until ``lease_until``."""

    delivery: Delivery
    message: Message
    reply_to_external_id: str | None = None
    #: For an edit delivery: the platform's id of the message to change.
    edit_of_external_id: str | None = None


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """What happened to one claimed delivery, recorded in a batch."""

    delivery_id: int
    state: Literal["sent", "retry", "failed", "dead"]
    attempts: int
    external_id: str | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None


class OutboxStore(Protocol):
    async def claim_due(
        self, now: datetime, owner: str, lease: timedelta, limit: int
    ) -> list[Claimed]:
        """Claim up to ``limit`` due deliveries, at most one per conversation: the oldest
        pending one, so that each conversation's messages go out in order."""
        ...

    async def record(self, outcomes: Sequence[SendOutcome], now: datetime) -> None: ...

    async def release(self, delivery_ids: Sequence[int], owner: str) -> None:
        """Give back unfinished claims so another dispatcher can take them at once."""
        ...

    async def next_due_at(self) -> datetime | None: ...

    async def hurry(self, source: str, now: datetime) -> int:
        """Make ``source``'s pending deliveries that wait after a failed attempt due now."""
        ...

    async def fail_by_external(
        self, source: str, external_id: str, reason: str, now: datetime
    ) -> Delivery | None:
        """Mark the sent delivery the platform knows as ``external_id`` failed (a bounce)."""
        ...

    async def pending_count(self, now: datetime, owner: str) -> int:
        """Deliveries due now that ``owner`` could send: unleased, or leased by ``owner``
        (for draining on shutdown)."""
        ...


@dataclass(frozen=True, slots=True)
class NewAgent:
    name: str
    email: str
    role: Role = Role.AGENT
    tier: int = 1
    teams: tuple[str, ...] = ("support",)
    capacity: int = 6
    slack_user_id: str | None = None
    presence: Presence = Presence.OFFLINE


class AgentStore(Protocol):
    async def add_agent(self, new: NewAgent, token_hash: str, now: datetime) -> Agent: ...

    async def agent_by_token_hash(self, token_hash: str) -> Agent | None: ...

    async def get_agent(self, agent_id: int) -> Agent: ...

    async def agent_by_slack_user(self, slack_user_id: str) -> Agent | None: ...

    async def agent_by_email(self, email: str) -> Agent | None: ...


@dataclass(frozen=True, slots=True)
class Visitor:
    """A web chat visitor: a customer with a channel identity and an access token."""

    customer_id: int
    thread: ThreadRef
    display_name: str
    language: str | None
    expires_at: datetime


class VisitorStore(Protocol):
    async def create_visitor(
        self,
        thread: ThreadRef,
        *,
        display_name: str,
        email: str | None,
        language: str | None,
        token_hash: str,
        expires_at: datetime,
        now: datetime,
        timezone: str | None = None,
    ) -> Visitor: ...

    async def visitor_by_token_hash(self, token_hash: str, now: datetime) -> Visitor | None:
        """The visitor for a token that has not expired, or None."""
        ...

    async def touch_visitor(self, token_hash: str, expires_at: datetime) -> None:
        """Slide the expiry forward while the visitor keeps coming back."""
        ...


class Database(Protocol):
    async def ping(self) -> None: ...


class CursorStore(Protocol):
    """Where a channel remembers how far it has read (a polling offset, an IMAP UID)."""

    async def get_cursor(self, source: str, name: str) -> str | None: ...

    async def set_cursor(self, source: str, name: str, value: str, now: datetime) -> None: ...


class LinkStore(Protocol):
    """A channel's own key-value mappings (a Slack thread per conversation, the Message-IDs
    of an email thread), kept apart per channel account and kind."""

    async def put_links(
        self, source: str, kind: str, pairs: Sequence[tuple[str, str]], now: datetime
    ) -> None:
        """Insert or replace each (key, value)."""
        ...

    async def get_links(self, source: str, kind: str, keys: Sequence[str]) -> dict[str, str]: ...


class FileStore(Protocol):
    """Attachment bytes, kept outside the database."""

    @property
    def max_bytes(self) -> int: ...

    async def save(self, data: bytes, *, name: str, content_type: str) -> Attachment:
        """Store ``data``; raises :class:`bridge.errors.FileTooLarge` above ``max_bytes``."""
        ...

    async def read(self, storage_key: str) -> bytes:
        """The bytes of a stored file; raises :class:`bridge.errors.NotFound`."""
        ...


class DeliveryFeedback(Protocol):
    async def destination_recovered(self, source: str) -> int:
        """The platform of channel account ``source`` works again: deliveries waiting after
        transient errors are tried now. Returns how many were brought forward."""
        ...

    async def report_failure(self, source: str, external_id: str, reason: str) -> bool:
        """A platform said later that a sent message did not arrive (an email bounce): mark
        the delivery failed and tell agents. False when no such delivery is known."""
        ...


# --- bus ---------------------------------------------------------------------------------


class Singletons(Protocol):
    """Runs work that must run in one process at a time (Telegram long polling, IMAP IDLE):
    at once with one process, under a lock with failover with several."""

    async def run(self, name: str, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``work`` whenever this process may; restart it when it ends; until cancelled."""
        ...


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def close(self) -> None: ...

    def backlog(self) -> int:
        """Events received but not yet taken (lets tests wait until a reader has caught up)."""
        ...


class EventBus(Protocol):
    async def publish(self, events: Sequence[Event]) -> None:
        """Hand committed events to every subscriber, in order."""
        ...

    def subscribe(self, kinds: frozenset[str] | None = None) -> Subscription:
        """Events of ``kinds`` (all when None) from now on, until the subscription is closed."""
        ...

    def state(self) -> ComponentState: ...


# --- channels ----------------------------------------------------------------------------


class ChannelAdapter(Protocol):
    """A channel account: a Telegram bot, a Slack app, a mailbox, the web chat.

    Constructors do no I/O; ``start`` connects; ``stop`` is idempotent.
    """

    @property
    def channel(self) -> str: ...

    @property
    def account(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, out: OutboundMessage) -> SentReceipt:
        """Deliver one public message; raise Transient/PermanentChannelError on failure."""
        ...

    def state(self) -> ComponentState: ...


class CustomerEdits(Protocol):
    async def edit_by_external(
        self, source: str, external_id: str, text: str, now: datetime
    ) -> tuple[Message, Conversation] | None: ...


class Ingest(Protocol):
    """The pipeline's entry, as adapters see it (:class:`bridge.ingest.Ingestor`)."""

    async def ingest(self, message: InboundMessage) -> IngestResult:
        """Store one customer message; returns only once it is committed."""
        ...

    async def edit(self, edit: InboundEdit) -> Message | None:
        """Apply a customer's edit to the stored message, keeping its history; None when the
        message is unknown (it was never stored, so there is nothing to edit)."""
        ...


# --- routing -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentLoad:
    agent: Agent
    load: int  # conversations assigned to the agent (waiting on the customer does not count)


@dataclass(frozen=True, slots=True)
class OpenWait:
    """A customer waiting for an agent right now (for SLA timers and promises)."""

    conversation_id: int
    customer_id: int
    channel: str
    kind: str  # "first" or "next" response
    started_at: datetime
    promised_at: datetime | None
    breached_at: datetime | None


@dataclass(frozen=True, slots=True)
class WaitRecord:
    """A waiting period, for promise and SLA statistics."""

    channel: str
    kind: str
    started_at: datetime
    promise_made_at: datetime | None
    promised_at: datetime | None
    answered_at: datetime | None
    closed_at: datetime | None
    breached_at: datetime | None


class AssignResult(StrEnum):
    ASSIGNED = "assigned"
    TAKEN = "taken"  # no longer waiting in the queue (someone else got it, or it moved on)
    FULL = "full"  # the agent is at capacity


class RoutingStore(Protocol):
    async def queued(self) -> list[Conversation]:
        """Every conversation waiting in the queue (to rebuild the live queue)."""
        ...

    async def assigned(self) -> list[Conversation]:
        """Every conversation an agent holds now (the occupied slots)."""
        ...

    async def open_waits(self) -> list[OpenWait]: ...

    async def agent_loads(self) -> list[AgentLoad]: ...

    async def agent_load(self, agent_id: int) -> AgentLoad: ...

    async def assign(
        self, conversation_id: int, agent_id: int, capacity: int, now: datetime
    ) -> tuple[AssignResult, Conversation | None]:
        """Give a queued conversation to an agent, in one transaction that also checks the
        agent's capacity, so that no agent is ever above it, whatever runs concurrently."""
        ...

    async def take_next(
        self,
        agent_id: int,
        teams: Sequence[str],
        tier: int,
        capacity: int,
        now: datetime,
        *,
        by_priority: bool = True,
    ) -> tuple[AssignResult, Conversation | None]:
        """The head of the agent's queue (across their teams), atomically; ``by_priority``
        off serves arrival order alone."""
        ...

    async def requeue_agent(self, agent_id: int, now: datetime) -> list[Conversation]:
        """Put an agent's assigned conversations back in the queue, keeping their places."""
        ...

    async def set_presence(self, agent_id: int, presence: Presence, now: datetime) -> Agent: ...

    async def transfer(
        self, conversation_id: int, team: str, tier: int, now: datetime, *, keep_wait: bool
    ) -> Conversation:
        """Move a conversation to another team/tier's queue (escalation or transfer)."""
        ...

    async def idle_assigned(self, channel: str, quiet_since: datetime) -> list[int]:
        """Assigned conversations where the agent answered and nobody wrote since."""
        ...

    async def set_pending(self, conversation_id: int, now: datetime) -> Conversation | None:
        """Assigned and answered -> waiting on the customer; None when that no longer holds."""
        ...

    async def claim_promise(
        self, conversation_id: int, made_at: datetime, promised_at: datetime
    ) -> bool:
        """Record the acknowledgement's promise for the open wait, once: False when this
        waiting period was already acknowledged (by this or another process)."""
        ...

    async def claim_promises(
        self, claims: Sequence[tuple[int, datetime]], made_at: datetime
    ) -> set[int]:
        """:meth:`claim_promise` for many ``(conversation id, promised at)`` in one
        transaction; returns the conversations whose claim was taken."""
        ...

    async def acknowledge(
        self,
        items: Sequence[tuple[NewAgentMessage, datetime]],
        plan: PlanDeliveries,
        made_at: datetime,
    ) -> list[PostedMessage]:
        """Claim each message's conversation's promise (``(message, promised at)``) and store
        the messages of the claims won, with their deliveries, in one transaction."""
        ...

    async def promises_since(self, customer_id: int, since: datetime) -> int: ...

    async def promises_since_many(
        self, customer_ids: Sequence[int], since: datetime
    ) -> dict[int, int]:
        """Promises made since ``since`` per customer (customers with none are left out)."""
        ...

    async def last_answer_at(self, conversation_id: int) -> datetime | None: ...

    async def mark_breached(self, conversation_id: int, started_at: datetime, at: datetime) -> bool:
        """Record an SLA breach of the open wait once; False when already recorded or over."""
        ...

    async def waits_since(self, since: datetime) -> list[WaitRecord]: ...

    async def handling_times(self, since: datetime) -> list[tuple[str, float]]:
        """(team, seconds from assignment to resolve) of conversations resolved since."""
        ...


@dataclass(frozen=True, slots=True)
class QueueItem:
    conversation: Conversation
    position: int
    waiting_seconds: float
    eta_seconds: float | None


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """What a customer may know about their place: in line, or with an agent."""

    state: ConversationStatus
    position: int | None
    eta_seconds: float | None
    agent_first_name: str | None


class QueueService(Protocol):
    """The router as the web layer and the channels see it."""

    def queue(
        self, *, team: str | None = None, tier: int | None = None, limit: int = 200
    ) -> tuple[list[QueueItem], int]:
        """The queue in service order (at most ``limit`` items) and its total length."""
        ...

    def status(self, conversation: Conversation) -> QueueStatus: ...

    def expected_wait(self, channel: str, team: str | None = None) -> float:
        """Seconds a conversation opened now on ``channel`` would be promised."""
        ...

    async def take_next(self, agent: Agent) -> Conversation | None: ...

    async def assign(
        self, conversation_id: int, actor: Agent, agent_id: int | None = None
    ) -> Conversation: ...

    async def escalate(
        self,
        conversation_id: int,
        actor: Agent,
        *,
        team: str | None,
        tier: int | None,
        note: str,
    ) -> Conversation: ...

    async def reopen(self, conversation_id: int, actor: Agent) -> Conversation: ...

    async def set_presence(self, agent: Agent, presence: Presence) -> Agent: ...

    async def stats(self, since: datetime) -> dict[str, Any]: ...


# --- the inbox, the customer's status page and ratings -----------------------------------


@dataclass(frozen=True, slots=True)
class AgentSession:
    """A signed-in browser: whose it is, its CSRF secret, and until when it is valid."""

    agent: Agent
    csrf_secret: str
    expires_at: datetime


class SessionStore(Protocol):
    """Passwords, browser sessions (token hashes only) and failed sign-ins."""

    async def credentials(self, email: str) -> tuple[Agent, str | None] | None:
        """The agent with this email and their password hash (None: no password set)."""
        ...

    async def set_password(self, agent_id: int, password_hash: str) -> None:
        """Store a new password hash and end the agent's sessions (a changed password logs
        every browser out)."""
        ...

    async def create_session(
        self,
        agent_id: int,
        token_hash: str,
        csrf_secret: str,
        now: datetime,
        expires_at: datetime,
    ) -> None: ...

    async def session_by_hash(self, token_hash: str, now: datetime) -> AgentSession | None:
        """The unexpired session with this token hash, with its agent as stored now."""
        ...

    async def end_session(self, token_hash: str) -> None: ...

    async def record_failure(self, subjects: Sequence[str], now: datetime) -> None: ...

    async def failures_since(self, subjects: Sequence[str], since: datetime) -> dict[str, int]:
        """Failed sign-ins per subject (``email:...``, ``ip:...``) since ``since``."""
        ...

    async def clear_failures(self, subjects: Sequence[str]) -> None: ...


@dataclass(frozen=True, slots=True)
class ConversationQuery:
    """The inbox's search: ``text`` matches message texts, the customer's name and the
    reference (``#12`` or ``12``); the other fields filter."""

    text: str | None = None
    channel: str | None = None
    status: ConversationStatus | None = None
    team: str | None = None
    tier: int | None = None
    assignee_id: int | None = None
    before: int | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """One line of the inbox's lists."""

    conversation: Conversation
    customer_name: str
    #: The newest public customer message's text (shortened), for a preview.
    preview: str | None
    #: A customer message arrived after what the reading agent last saw.
    unread: bool
    rating: int | None = None


class InboxStore(Protocol):
    async def search(self, query: ConversationQuery, reader_id: int) -> list[ConversationRow]:
        """Conversations matching ``query``, newest first."""
        ...

    async def rows(self, conversation_ids: Sequence[int], reader_id: int) -> list[ConversationRow]:
        """The rows of these conversations, in the order given (the queue's)."""
        ...

    async def customer_history(
        self, customer_id: int, limit: int
    ) -> list[tuple[Conversation, list[Message]]]:
        """Every conversation of the customer, oldest first, each with its messages (notes
        included: for agents only); at most ``limit`` messages in all, the newest."""
        ...

    async def merge_customers(self, keep_id: int, other_id: int, now: datetime) -> Customer:
        """Move ``other_id``'s identities, conversations and sessions to ``keep_id`` and delete
        ``other_id``: one customer, one history."""
        ...

    async def mark_read(
        self, agent_id: int, conversation_id: int, message_id: int, now: datetime
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class CannedResponse:
    """A template agents insert into the composer; ``checklist`` lists what an
    information request asks the customer for."""

    id: int
    name: str
    body: str
    checklist: tuple[str, ...]
    language: str | None
    team: str | None
    created_at: datetime


class TemplateStore(Protocol):
    async def list_templates(self) -> list[CannedResponse]: ...

    async def add_template(
        self,
        *,
        name: str,
        body: str,
        checklist: Sequence[str],
        language: str | None,
        team: str | None,
        now: datetime,
    ) -> CannedResponse:
        """Raises :class:`bridge.errors.Conflict` when the name is taken."""
        ...


@dataclass(frozen=True, slots=True)
class Rating:
    conversation_id: int
    rating: int  # 1 (poor) to 5 (great)
    comment: str | None
    created_at: datetime


class RatingStore(Protocol):
    """Customer satisfaction ratings, one per conversation (a later one replaces it)."""

    async def rate(
        self, conversation_id: int, rating: int, comment: str | None, now: datetime
    ) -> Rating: ...

    async def rating_of(self, conversation_id: int) -> Rating | None: ...

    async def ratings_since(self, since: datetime) -> list[Rating]: ...


class StatusLinkStore(Protocol):
    async def add_status_link(
        self, conversation_id: int, token_hash: str, now: datetime
    ) -> None: ...

    async def conversation_of_link(self, token_hash: str) -> int | None: ...

    async def public_history(
        self, conversation_id: int, now: datetime, limit: int
    ) -> list[Message]:
        """The conversation's messages a customer may see, oldest first (the newest ``limit``):
        no notes, no withdrawn replies, no replies still held back. Callers still pass them
        through :func:`bridge.gate.customer_view`."""
        ...


class StatusPages(Protocol):
    """Links to a customer's status page, for acknowledgements, emails and rating requests."""

    async def status_url(self, conversation: Conversation) -> str: ...


class DashboardStore(Protocol):
    async def waits_between(self, since: datetime, until: datetime) -> list[WaitRecord]:
        """Waiting periods that were open at any time between ``since`` and ``until``."""
        ...

    async def open_waits(self) -> list[OpenWait]: ...

    async def agent_loads(self) -> list[AgentLoad]:
        """Every agent with the conversations they hold, as stored now."""
        ...


class CustomerRatings(Protocol):
    """Ratings a customer gives on their own channel (Telegram's 1-5 buttons), named by the
    status-page token their rating request carried."""

    async def rate_by_link(self, token: str, rating: int) -> bool:
        """Record 1-5 for the resolved conversation of ``token``; False when the token is
        unknown, the rating out of range, or the conversation not resolved."""
        ...


# --- deliveries that wait (the inbox's banner, /readyz) -----------------------------------


@dataclass(frozen=True, slots=True)
class WaitingDelivery:
    """A public message accepted for a customer and not delivered yet, because its channel
    failed (it, or the reply ahead of it in its conversation) or because it is long overdue."""

    delivery_id: int
    message_id: int
    conversation_id: int
    destination: ThreadRef
    attempts: int
    #: What the last failed attempt ran into (this delivery's, or the one it queues behind).
    reason: str | None
    next_attempt_at: datetime
    created_at: datetime


@dataclass(frozen=True, slots=True)
class WaitingDestination:
    """The waiting deliveries of one channel account."""

    channel: str
    account: str
    count: int
    #: The most recent failure on this destination; None when they are only overdue.
    reason: str | None
    #: The earliest retry planned after a failure.
    next_attempt_at: datetime | None
    oldest_created_at: datetime
    #: Conversations with waiting deliveries, oldest first (at most a page of them).
    conversation_ids: tuple[int, ...]

    @property
    def source(self) -> str:
        return f"{self.channel}:{self.account}"


@dataclass(frozen=True, slots=True)
class WaitingDeliveries:
    total: int
    destinations: tuple[WaitingDestination, ...]
    #: The oldest waiting deliveries, up to the limit asked for.
    items: tuple[WaitingDelivery, ...]


class DeliveryStatusStore(Protocol):
    async def waiting(
        self, now: datetime, *, overdue_after: timedelta, limit: int
    ) -> WaitingDeliveries:
        """Pending deliveries held up by a failure of their channel, or due for longer than
        ``overdue_after`` and still not sent; ``limit`` caps the items (not the counts)."""
        ...
