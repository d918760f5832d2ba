"""Sign-in for the inbox: password hashes, browser sessions and failed attempts.

Sessions are found by the SHA-256 of the cookie's token, never by the token itself; failed
attempts are rows rather than counters in memory so that every process sees the same lock-out.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, delete, func, insert, select, update

from bridge.model import Agent
from bridge.ports import AgentSession
from storage import rows
from storage.database import Database
from storage.tables import agents, login_failures, sessions


class SqlSessions:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def credentials(self, email: str) -> tuple[Agent, str | None] | None:
        query = select(agents).where(agents.c.email == email.strip().lower())
        row = await self._db.run_read(lambda c: c.execute(query).mappings().first())
        if row is None:
            return None
        return rows.agent(row), row["password_hash"]

    async def set_password(self, agent_id: int, password_hash: str) -> None:
        def work(connection: Connection) -> None:
            connection.execute(
                update(agents).where(agents.c.id == agent_id).values(password_hash=password_hash)
            )
            connection.execute(delete(sessions).where(sessions.c.agent_id == agent_id))

        await self._db.run_write(work)

    async def create_session(
        self,
        agent_id: int,
        token_hash: str,
        csrf_secret: str,
        now: datetime,
        expires_at: datetime,
    ) -> None:
        values = {
            "token_hash": token_hash,
            "agent_id": agent_id,
            "csrf_secret": csrf_secret,
            "created_at": now,
            "expires_at": expires_at,
        }

        def work(connection: Connection) -> None:
            # Expired sessions are swept here, at sign-in, rather than by a timer.
            connection.execute(delete(sessions).where(sessions.c.expires_at <= now))
            connection.execute(insert(sessions), values)

        await self._db.run_write(work)

    async def session_by_hash(self, token_hash: str, now: datetime) -> AgentSession | None:
        query = (
            select(agents, sessions.c.csrf_secret, sessions.c.expires_at)
            .join(sessions, sessions.c.agent_id == agents.c.id)
            .where(sessions.c.token_hash == token_hash, sessions.c.expires_at > now)
        )
        row = await self._db.run_read(lambda c: c.execute(query).mappings().first())
        if row is None:
            return None
        return AgentSession(rows.agent(row), row["csrf_secret"], row["expires_at"])

    async def end_session(self, token_hash: str) -> None:
        statement = delete(sessions).where(sessions.c.token_hash == token_hash)
        await self._db.run_write(lambda c: c.execute(statement))

    async def record_failure(self, subjects: Sequence[str], now: datetime) -> None:
        values = [{"subject": s[:400], "at": now} for s in subjects]
        if values:
            await self._db.run_write(lambda c: c.execute(insert(login_failures), values))

    async def failures_since(self, subjects: Sequence[str], since: datetime) -> dict[str, int]:
        wanted = [s[:400] for s in subjects]
        query = (
            select(login_failures.c.subject, func.count().label("n"))
            .where(login_failures.c.subject.in_(wanted), login_failures.c.at >= since)
            .group_by(login_failures.c.subject)
        )
        counted = await self._db.run_read(lambda c: {r.subject: r.n for r in c.execute(query)})
        return {s: int(counted.get(s[:400], 0)) for s in subjects}

    async def clear_failures(self, subjects: Sequence[str]) -> None:
        statement = delete(login_failures).where(
            login_failures.c.subject.in_([s[:400] for s in subjects])
        )
        await self._db.run_write(lambda c: c.execute(statement))
