"""One object that opens the database and offers every repository."""

from __future__ import annotations

from dataclasses import dataclass

from storage.agents import SqlAgents
from storage.channels import SqlCursors, SqlLinks
from storage.conversations import SqlConversations
from storage.database import Database
from storage.delivery_status import SqlDeliveryStatus
from storage.feedback import SqlFeedback
from storage.inbox import SqlInbox
from storage.ingest import SqlIngest
from storage.migrate import ensure_schema
from storage.outbox import SqlOutbox
from storage.routing import SqlRouting
from storage.sessions import SqlSessions
from storage.templates import SqlTemplates
from storage.visitors import SqlVisitors


@dataclass(frozen=True, slots=True)
class Storage:
    database: Database
    ingest: SqlIngest
    conversations: SqlConversations
    outbox: SqlOutbox
    agents: SqlAgents
    visitors: SqlVisitors
    routing: SqlRouting
    cursors: SqlCursors
    links: SqlLinks
    sessions: SqlSessions
    inbox: SqlInbox
    templates: SqlTemplates
    feedback: SqlFeedback
    delivery_status: SqlDeliveryStatus

    @classmethod
    def open(cls, url: str, *, sqlite_synchronous: str = "NORMAL", pool_size: int = 10) -> Storage:
        """Build the repositories; no connection is made until first use."""
        database = Database(url, sqlite_synchronous=sqlite_synchronous, pool_size=pool_size)
        return cls(
            database=database,
            ingest=SqlIngest(database),
            conversations=SqlConversations(database),
            outbox=SqlOutbox(database),
            agents=SqlAgents(database),
            visitors=SqlVisitors(database),
            routing=SqlRouting(database),
            cursors=SqlCursors(database),
            links=SqlLinks(database),
            sessions=SqlSessions(database),
            inbox=SqlInbox(database),
            templates=SqlTemplates(database),
            feedback=SqlFeedback(database),
            delivery_status=SqlDeliveryStatus(database),
        )

    async def prepare(self, *, auto_migrate: bool) -> None:
        await ensure_schema(self.database, auto_migrate=auto_migrate)

    async def close(self) -> None:
        await self.database.dispose()
