"""The router's side of the store: assignment within capacity, the queue's head, presence,
transfers, and the records behind promises and SLA timers.

Capacity and "one conversation, one agent" are enforced here, inside transactions, not by
the router's in-memory view: on PostgreSQL the agent's row is locked for the assignment
(``FOR UPDATE``), so two processes assigning to one agent take turns, and the queue's head is
claimed with ``FOR UPDATE SKIP LOCKED``, so two agents asking at once never get the same
conversation. On SQLite every write runs on one thread, which gives the same guarantees.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    bindparam,
    exists,
    func,
    literal_column,
    or_,
    select,
    update,
)

from bridge.errors import NotFound
from bridge.model import Agent, Conversation, ConversationStatus, Presence, Priority
from bridge.ports import (
    AgentLoad,
    AssignResult,
    NewAgentMessage,
    OpenWait,
    PlanDeliveries,
    PostedMessage,
    WaitRecord,
)
from storage import rows
from storage.conversations import post_messages_in
from storage.database import Database
from storage.tables import agents, conversations, waits

QUEUED = ConversationStatus.QUEUED.value
ASSIGNED = ConversationStatus.ASSIGNED.value
_ORDER = (conversations.c.priority, conversations.c.waiting_since, conversations.c.id)

_AGENT = select(agents).where(agents.c.id == bindparam("id"))
_AGENT_LOCKED = _AGENT.with_for_update()
_LOAD = select(func.count()).where(
    conversations.c.assignee_id == bindparam("id"), conversations.c.status == ASSIGNED
)
_CONVERSATION = select(conversations).where(conversations.c.id == bindparam("id"))
_ASSIGN = (
    update(conversations)
    .where(conversations.c.id == bindparam("cid"), conversations.c.status == QUEUED)
    .values(
        status=ASSIGNED,
        assignee_id=bindparam("aid"),
        assigned_at=bindparam("now"),
        updated_at=bindparam("now"),
        version=conversations.c.version + 1,
    )
    .returning(*conversations.c)
)
_ROOM = select(agents.c.id, _LOAD.scalar_subquery().label("load")).where(
    agents.c.id == bindparam("id")
)
_TOUCH_AGENT = (
    update(agents).where(agents.c.id == bindparam("aid")).values(last_assigned_at=bindparam("now"))
)


@cache
def _head(locking: bool, by_priority: bool) -> Select[Any]:
    """The head of one team/tier line; without priority classes, of one class (the caller
    asks each class and takes the earliest, so the queue's index still serves every call)."""
    query = (
        select(conversations.c.id, *_ORDER[:2])
        .where(
            conversations.c.status == QUEUED,
            conversations.c.team == bindparam("team"),
            conversations.c.tier == bindparam("tier"),
            # Only customers actually waiting: an answered conversation nobody holds is not
            # in line (and NULL would sort first on SQLite, last on PostgreSQL).
            conversations.c.waiting_since.is_not(None),
        )
        .order_by(*_ORDER)
        .limit(1)
    )
    if not by_priority:
        query = query.where(conversations.c.priority == bindparam("priority"))
    return query.with_for_update(skip_locked=True) if locking else query


@cache
def _take_head_postgres() -> Any:
    """Head, assignment and the agent's last-assigned time in one statement (PostgreSQL runs
    data-modifying CTEs once each): take-next was six round trips, it is now three plus the
    commit. The head is locked with SKIP LOCKED, so concurrent takers get different rows."""
    # Parameter names are no column's: an UPDATE takes a parameter named like one of its
    # columns ("tier") as a value to set.
    queued: Any = literal_column(f"'{QUEUED}'")
    one: Any = literal_column("1")
    head = (
        select(conversations.c.id)
        .where(
            conversations.c.status == queued,
            conversations.c.team == bindparam("b_team"),
            conversations.c.tier == bindparam("b_tier"),
            conversations.c.waiting_since.is_not(None),
        )
        .order_by(*_ORDER)
        .limit(one)
        .with_for_update(skip_locked=True)
        .cte("head")
    )
    assigned = (
        update(conversations)
        .where(conversations.c.id == head.c.id, conversations.c.status == queued)
        .values(
            status=literal_column(f"'{ASSIGNED}'"),
            assignee_id=bindparam("aid"),
            assigned_at=bindparam("now"),
            updated_at=bindparam("now"),
            version=conversations.c.version + one,
        )
        .returning(*conversations.c)
        .cte("assigned")
    )
    touched = (
        update(agents)
        .where(agents.c.id == bindparam("aid"), exists(select(assigned.c.id)))
        .values(last_assigned_at=bindparam("now"))
        .cte("touched")
    )
    return select(assigned).add_cte(touched)


class SqlRouting:
    def __init__(self, database: Database) -> None:
        self._db = database

    # --- reads ----------------------------------------------------------------------------

    async def queued(self) -> list[Conversation]:
        query = select(conversations).where(conversations.c.status == QUEUED).order_by(*_ORDER)
        return await self._db.run_read(
            lambda c: [rows.conversation(r) for r in c.execute(query).mappings()]
        )

    async def assigned(self) -> list[Conversation]:
        query = select(conversations).where(conversations.c.status == ASSIGNED)
        return await self._db.run_read(
            lambda c: [rows.conversation(r) for r in c.execute(query).mappings()]
        )

    async def open_waits(self) -> list[OpenWait]:
        query = select(waits).where(waits.c.closed_at.is_(None)).order_by(waits.c.id)

        return await self._db.run_read(
            lambda c: [rows.open_wait(r) for r in c.execute(query).mappings()]
        )

    async def agent_loads(self) -> list[AgentLoad]:
        loads = (
            select(conversations.c.assignee_id, func.count().label("load"))
            .where(conversations.c.status == ASSIGNED)
            .group_by(conversations.c.assignee_id)
        )

        def work(connection: Connection) -> list[AgentLoad]:
            counted = {r.assignee_id: r.load for r in connection.execute(loads)}
            found = connection.execute(select(agents).order_by(agents.c.id)).mappings()
            return [AgentLoad(rows.agent(r), counted.get(r["id"], 0)) for r in found]

        return await self._db.run_read(work)

    async def agent_load(self, agent_id: int) -> AgentLoad:
        def work(connection: Connection) -> AgentLoad:
            row = connection.execute(_AGENT, {"id": agent_id}).mappings().first()
            if row is None:
                raise NotFound(f"no agent {agent_id}")
            return AgentLoad(rows.agent(row), int(connection.scalar(_LOAD, {"id": agent_id}) or 0))

        return await self._db.run_read(work)

    # --- assignment -----------------------------------------------------------------------

    async def assign(
        self, conversation_id: int, agent_id: int, capacity: int, now: datetime
    ) -> tuple[AssignResult, Conversation | None]:
        def work(connection: Connection) -> tuple[AssignResult, Conversation | None]:
            if not _has_room(connection, agent_id, capacity):
                return AssignResult.FULL, None
            return _assign(connection, conversation_id, agent_id, now)

        return await self._db.run_write(work)

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
        locking = not self._db.is_sqlite
        classes = [None] if by_priority else [int(p) for p in Priority]

        def work(connection: Connection) -> tuple[AssignResult, Conversation | None]:
            if not _has_room(connection, agent_id, capacity):
                return AssignResult.FULL, None
            if locking and by_priority and len(teams) == 1:
                params = {"b_team": teams[0], "b_tier": tier, "aid": agent_id, "now": now}
                row = connection.execute(_take_head_postgres(), params).mappings().first()
                if row is None:
                    return AssignResult.TAKEN, None
                return AssignResult.ASSIGNED, rows.conversation(row)
            heads = []
            for team in teams:
                for priority in classes:
                    params = {"team": team, "tier": tier, "priority": priority}
                    head = connection.execute(_head(locking, by_priority), params).first()
                    if head is not None:
                        heads.append(head)
            if not heads:
                return AssignResult.TAKEN, None
            order = (
                (lambda h: (h.priority, h.waiting_since, h.id))
                if by_priority
                else (lambda h: (h.waiting_since, h.id))
            )
            best = min(heads, key=order)
            return _assign(connection, best.id, agent_id, now)

        return await self._db.run_write(work)

    async def requeue_agent(self, agent_id: int, now: datetime) -> list[Conversation]:
        def work(connection: Connection) -> list[Conversation]:
            held = connection.execute(
                select(conversations).where(
                    conversations.c.assignee_id == agent_id, conversations.c.status == ASSIGNED
                )
            ).mappings()
            moved = []
            for row in held:
                conversation = rows.conversation(row)
                values = {
                    "status": QUEUED,
                    "assignee_id": None,
                    "assigned_at": None,
                    # Its place in line: since the customer started waiting, or from now
                    # when the agent had answered everything.
                    "waiting_since": conversation.waiting_since or now,
                    "updated_at": now,
                    "version": conversations.c.version + 1,
                }
                connection.execute(
                    update(conversations)
                    .where(conversations.c.id == conversation.id)
                    .values(values)
                )
                moved.append(_reload(connection, conversation.id))
            return moved

        return await self._db.run_write(work)

    async def set_presence(self, agent_id: int, presence: Presence, now: datetime) -> Agent:
        def work(connection: Connection) -> Agent:
            connection.execute(
                update(agents)
                .where(agents.c.id == agent_id)
                .values(presence=presence.value, presence_changed_at=now)
            )
            row = connection.execute(_AGENT, {"id": agent_id}).mappings().first()
            if row is None:
                raise NotFound(f"no agent {agent_id}")
            return rows.agent(row)

        return await self._db.run_write(work)

    async def transfer(
        self, conversation_id: int, team: str, tier: int, now: datetime, *, keep_wait: bool
    ) -> Conversation:
        def work(connection: Connection) -> Conversation:
            current = _reload(connection, conversation_id)
            waiting_since = (current.waiting_since or now) if keep_wait else now
            connection.execute(
                update(conversations)
                .where(conversations.c.id == conversation_id)
                .values(
                    status=QUEUED,
                    team=team,
                    tier=tier,
                    assignee_id=None,
                    assigned_at=None,
                    waiting_since=waiting_since,
                    resolved_at=None,
                    updated_at=now,
                    version=conversations.c.version + 1,
                )
            )
            return _reload(connection, conversation_id)

        return await self._db.run_write(work)

    async def idle_assigned(self, channel: str, quiet_since: datetime) -> list[int]:
        query = select(conversations.c.id).where(
            conversations.c.status == ASSIGNED,
            conversations.c.channel == channel,
            conversations.c.waiting_since.is_(None),
            conversations.c.last_message_at < quiet_since,
        )
        return await self._db.run_read(lambda c: [r.id for r in c.execute(query)])

    async def set_pending(self, conversation_id: int, now: datetime) -> Conversation | None:
        def work(connection: Connection) -> Conversation | None:
            changed = connection.execute(
                update(conversations)
                .where(
                    conversations.c.id == conversation_id,
                    conversations.c.status == ASSIGNED,
                    conversations.c.waiting_since.is_(None),
                )
                .values(
                    status=ConversationStatus.PENDING_CUSTOMER.value,
                    updated_at=now,
                    version=conversations.c.version + 1,
                )
            )
            return _reload(connection, conversation_id) if changed.rowcount else None

        return await self._db.run_write(work)

    # --- promises and SLA records --------------------------------------------------------

    async def claim_promise(
        self, conversation_id: int, made_at: datetime, promised_at: datetime
    ) -> bool:
        claimed = await self.claim_promises([(conversation_id, promised_at)], made_at)
        return conversation_id in claimed

    async def claim_promises(
        self, claims: Sequence[tuple[int, datetime]], made_at: datetime
    ) -> set[int]:
        if not claims:
            return set()

        return await self._db.run_write(lambda c: _claim(c, claims, made_at))

    async def acknowledge(
        self,
        items: Sequence[tuple[NewAgentMessage, datetime]],
        plan: PlanDeliveries,
        made_at: datetime,
    ) -> list[PostedMessage]:
        if not items:
            return []

        def work(connection: Connection) -> list[PostedMessage]:
            claimed = _claim(connection, [(n.conversation_id, at) for n, at in items], made_at)
            news = [new for new, _ in items if new.conversation_id in claimed]
            return post_messages_in(connection, news, plan, made_at) if news else []

        return await self._db.run_write(work)

    async def promises_since(self, customer_id: int, since: datetime) -> int:
        return (await self.promises_since_many([customer_id], since)).get(customer_id, 0)

    async def promises_since_many(
        self, customer_ids: Sequence[int], since: datetime
    ) -> dict[int, int]:
        wanted = sorted(set(customer_ids))
        if not wanted:
            return {}
        query = (
            select(waits.c.customer_id, func.count())
            .where(waits.c.customer_id.in_(wanted), waits.c.promise_made_at >= since)
            .group_by(waits.c.customer_id)
        )
        return await self._db.run_read(lambda c: {int(cid): int(n) for cid, n in c.execute(query)})

    async def last_answer_at(self, conversation_id: int) -> datetime | None:
        query = select(func.max(waits.c.answered_at)).where(
            waits.c.conversation_id == conversation_id
        )
        value = await self._db.run_read(lambda c: c.scalar(query))
        return None if value is None else rows.as_utc(value)

    async def mark_breached(self, conversation_id: int, started_at: datetime, at: datetime) -> bool:
        statement = (
            update(waits)
            .where(
                waits.c.conversation_id == conversation_id,
                waits.c.started_at == started_at,
                waits.c.closed_at.is_(None),
                waits.c.breached_at.is_(None),
            )
            .values(breached_at=at)
        )
        return bool(await self._db.run_write(lambda c: c.execute(statement).rowcount))

    async def waits_since(self, since: datetime) -> list[WaitRecord]:
        query = select(waits).where(waits.c.started_at >= since).order_by(waits.c.id)

        return await self._db.run_read(
            lambda c: [rows.wait_record(r) for r in c.execute(query).mappings()]
        )

    async def waits_between(self, since: datetime, until: datetime) -> list[WaitRecord]:
        query = (
            select(waits)
            .where(
                waits.c.started_at <= until,
                or_(waits.c.closed_at.is_(None), waits.c.closed_at >= since),
            )
            .order_by(waits.c.started_at)
        )
        return await self._db.run_read(
            lambda c: [rows.wait_record(r) for r in c.execute(query).mappings()]
        )

    async def handling_times(self, since: datetime) -> list[tuple[str, float]]:
        query = (
            select(conversations.c.team, conversations.c.assigned_at, conversations.c.resolved_at)
            .where(
                conversations.c.status == ConversationStatus.RESOLVED.value,
                conversations.c.resolved_at >= since,
                conversations.c.assigned_at.is_not(None),
            )
            .order_by(conversations.c.resolved_at)
        )

        def work(connection: Connection) -> list[tuple[str, float]]:
            return [
                (r.team, (r.resolved_at - r.assigned_at).total_seconds())
                for r in connection.execute(query)
                if r.resolved_at >= r.assigned_at
            ]

        return await self._db.run_read(work)


def _has_room(connection: Connection, agent_id: int, capacity: int) -> bool:
    if connection.dialect.name == "postgresql":
        # Lock the agent's row first, so assignments to one agent take turns across
        # processes; then count in a statement of its own. (A count inside the locking
        # statement would read the snapshot taken before the wait for the lock, and miss the
        # assignment that the holder of the lock just committed: READ COMMITTED takes a
        # fresh snapshot per statement, not per lock.)
        if connection.execute(_AGENT_LOCKED, {"id": agent_id}).first() is None:
            raise NotFound(f"no agent {agent_id}")
        return int(connection.scalar(_LOAD, {"id": agent_id}) or 0) < capacity
    # SQLite has one writer at a time: the agent and its load in one statement.
    row = connection.execute(_ROOM, {"id": agent_id}).first()
    if row is None:
        raise NotFound(f"no agent {agent_id}")
    return int(row.load or 0) < capacity


def _assign(
    connection: Connection, conversation_id: int, agent_id: int, now: datetime
) -> tuple[AssignResult, Conversation | None]:
    row = (
        connection.execute(_ASSIGN, {"cid": conversation_id, "aid": agent_id, "now": now})
        .mappings()
        .first()
    )
    if row is None:
        return AssignResult.TAKEN, None
    connection.execute(_TOUCH_AGENT, {"aid": agent_id, "now": now})
    return AssignResult.ASSIGNED, rows.conversation(row)


def _reload(connection: Connection, conversation_id: int) -> Conversation:
    row = connection.execute(_CONVERSATION, {"id": conversation_id}).mappings().first()
    if row is None:
        raise NotFound(f"no conversation {conversation_id}")
    return rows.conversation(row)


def _claim(
    connection: Connection, claims: Sequence[tuple[int, datetime]], made_at: datetime
) -> set[int]:
    # Which waits are still unpromised, then the promises: both inside one write
    # transaction, which SQLite runs alone and PostgreSQL holds the rows' locks for.
    ids = sorted({cid for cid, _ in claims})
    locking = connection.dialect.name == "postgresql"
    if locking:
        # Conversations first, in id order, as an agent's reply takes them (then its
        # wait): the other order deadlocked against replies with two processes.
        connection.execute(_LOCK_CONVERSATIONS, {"ids": ids})
    found = connection.execute(_UNPROMISED_LOCKING if locking else _UNPROMISED, {"ids": ids})
    open_ids = {int(cid) for cid in found.scalars()}
    granted: dict[int, datetime] = {}
    for conversation_id, promised_at in claims:
        if conversation_id in open_ids:
            granted.setdefault(conversation_id, promised_at)
    if granted:
        connection.execute(
            _CLAIM_PROMISE,
            [{"cid": cid, "made_at": made_at, "promised_at": at} for cid, at in granted.items()],
        )
        connection.execute(
            _PROMISED_REPLY, [{"b_id": cid, "b_at": at} for cid, at in granted.items()]
        )
    return set(granted)


_UNPROMISED = (
    select(waits.c.conversation_id)
    .where(
        waits.c.conversation_id.in_(bindparam("ids", expanding=True)),
        waits.c.closed_at.is_(None),
        waits.c.promise_made_at.is_(None),
    )
    .order_by(waits.c.conversation_id)
)
_UNPROMISED_LOCKING = _UNPROMISED.with_for_update()
_CLAIM_PROMISE = (
    update(waits)
    .where(
        waits.c.conversation_id == bindparam("cid"),
        waits.c.closed_at.is_(None),
        waits.c.promise_made_at.is_(None),
    )
    .values(promise_made_at=bindparam("made_at"), promised_at=bindparam("promised_at"))
)
_LOCK_CONVERSATIONS = (
    select(conversations.c.id)
    .where(conversations.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(conversations.c.id)
    .with_for_update()
)
_PROMISED_REPLY = (
    update(conversations)
    .where(conversations.c.id == bindparam("b_id"))
    .values(promised_reply_at=bindparam("b_at"))
)
