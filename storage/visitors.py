"""Web chat visitors: a customer, their channel identity and a session token (hashed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update

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
    ) -> Visitor:
        async with self._db.write() as connection:
            customer_id = (
                await connection.execute(
                    insert(customers).returning(customers.c.id),
                    {
                        "display_name": display_name[:200],
                        "language": language,
                        # Typed into a form, not proven: kept for agents, never used to link
                        # this visitor to another customer's history.
                        "email": email,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
            ).scalar_one()
            await connection.execute(
                insert(identities),
                {
                    "customer_id": customer_id,
                    "channel": thread.channel,
                    "external_id": thread.thread_key,
                    "verified": False,
                    "created_at": now,
                },
            )
            await connection.execute(
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
        return Visitor(customer_id, thread, display_name[:200], language, expires_at)

    async def visitor_by_token_hash(self, token_hash: str, now: datetime) -> Visitor | None:
        query = (
            select(visitors, customers.c.display_name, customers.c.language)
            .join(customers, customers.c.id == visitors.c.customer_id)
            .where(visitors.c.token_hash == token_hash, visitors.c.expires_at > now)
        )
        async with self._db.read() as connection:
            row = (await connection.execute(query)).mappings().first()
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
        async with self._db.write() as connection:
            await connection.execute(
                update(visitors)
                .where(visitors.c.token_hash == token_hash)
                .values(expires_at=expires_at)
            )
