"""Agents and their API tokens (stored as SHA-256 hashes only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from bridge.errors import Conflict, NotFound
from bridge.model import Agent
from bridge.ports import NewAgent
from storage import rows
from storage.database import Database
from storage.tables import agents


class SqlAgents:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def add_agent(self, new: NewAgent, token_hash: str, now: datetime) -> Agent:
        values = {
            "name": new.name,
            "email": new.email.lower(),
            "role": new.role.value,
            "tier": new.tier,
            "teams": list(new.teams),
            "capacity": new.capacity,
            "presence": new.presence.value,
            "slack_user_id": new.slack_user_id,
            "token_hash": token_hash,
            "created_at": now,
            "presence_changed_at": now,
        }
        try:
            row = await self._db.run_write(
                lambda c: c.execute(insert(agents).returning(*agents.c), values).mappings().one()
            )
        except IntegrityError as error:
            raise Conflict(
                f"an agent with email {new.email!r} or Slack user {new.slack_user_id!r} exists"
            ) from error
        return rows.agent(row)

    async def agent_by_token_hash(self, token_hash: str) -> Agent | None:
        query = select(agents).where(agents.c.token_hash == token_hash)
        row = await self._db.run_read(lambda c: c.execute(query).mappings().first())
        return rows.agent(row) if row else None

    async def get_agent(self, agent_id: int) -> Agent:
        query = select(agents).where(agents.c.id == agent_id)
        row = await self._db.run_read(lambda c: c.execute(query).mappings().first())
        if row is None:
            raise NotFound(f"no agent {agent_id}")
        return rows.agent(row)

    async def agent_by_slack_user(self, slack_user_id: str) -> Agent | None:
        query = select(agents).where(agents.c.slack_user_id == slack_user_id)
        row = await self._db.run_read(lambda c: c.execute(query).mappings().first())
        return rows.agent(row) if row else None

    async def agent_by_email(self, email: str) -> Agent | None:
        query = select(agents).where(agents.c.email == email.lower())
        row = await self._db.run_read(lambda c: c.execute(query).mappings().first())
        return rows.agent(row) if row else None
