"""Web chat visitors: a customer, their channel identity and a session token (hashed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from bridge.model import ThreadRef
from bridge.ports import Visitor
from storage.database import Database
from storage.tables import customers, identities, visitors


class SqlVisitors:
    def __init__(self, database: Database) -> None:
        self._db = database

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
    ) -> Visitor:
        def work(connection: Connection) -> None:
            customer_id = (
                connection.execute(
                    insert(customers).returning(customers.c.id),
                    {
                        "display_name": display_name[:200],
                        "language": language,
                        # Typed into a form, not proven: kept for agents, never used to link
                        # this visitor to another customer's history.
                        "email": email,
                        "timezone": timezone,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
            ).scalar_one()
            connection.execute(
                insert(identities),
                {
                    "customer_id": customer_id,
                    "channel": thread.channel,
                    "external_id": thread.thread_key,
                    "verified": False,
                    "created_at": now,
                },
            )
            connection.execute(
                insert(visitors),
                {
                    "token_hash": token_hash,
                    "customer_id": customer_id,
                    "channel": thread.channel,
                    "account": thread.account,
                    "thread_key": thread.thread_key,
                    "expires_at": expires_at,
                    "created_at": now,
                },
            )
            created.append(customer_id)

        created: list[int] = []
        await self._db.run_write(work)
        return Visitor(created[0], thread, display_name[:200], language, expires_at)

    async def visitor_by_token_hash(self, token_hash: str, now: datetime) -> Visitor | None:
        query = (
            select(visitors, customers.c.display_name, customers.c.language)
            .join(customers, customers.c.id == visitors.c.customer_id)
            .where(visitors.c.token_hash == token_hash, visitors.c.expires_at > now)
        )
        row = await self._db.run_read(lambda c: c.execute(query).mappings().first())
        if row is None:
            return None
        return Visitor(
            customer_id=row["customer_id"],
            thread=ThreadRef(row["channel"], row["account"], row["thread_key"]),
            display_name=row["display_name"],
            language=row["language"],
            expires_at=row["expires_at"],
        )

    async def touch_visitor(self, token_hash: str, expires_at: datetime) -> None:
        statement = (
            update(visitors)
            .where(visitors.c.token_hash == token_hash)
            .values(expires_at=expires_at)
        )
        await self._db.run_write(lambda c: c.execute(statement))
