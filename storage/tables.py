"""The schema, as SQLAlchemy Core tables. Alembic migrations are checked against it in tests.

Times are stored as UTC; :class:`UTCDateTime` makes them timezone-aware again on SQLite, which
keeps no zone. Integer keys are BIGINT on PostgreSQL and INTEGER PRIMARY KEY (the rowid) on
SQLite, where only that spelling auto-increments.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

Id = BigInteger().with_variant(Integer(), "sqlite")


NAIVE = "naive datetime given to the database; the clock must be UTC-aware"


class UTCDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(NAIVE)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        # SQLite stores the text SQLAlchemy's own DATETIME would write (comparisons in SQL
        # depend on it), made in one step: its two-step processor was a tenth of the CPU of
        # a busy ingest.
        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is None:
                raise ValueError(
                    "naive datetime given to the database; the clock must be UTC-aware"
                )
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

customers = Table(
    "customers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("display_name", String(200), nullable=False),
    Column("language", String(16)),
    Column("email", String(320)),
    Column("timezone", String(64)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

identities = Table(
    "identities",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False, index=True),
    Column("channel", String(32), nullable=False),
    Column("external_id", String(320), nullable=False),
    Column("verified", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    UniqueConstraint("channel", "external_id"),
)

agents = Table(
    "agents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=False, unique=True),
    Column("role", String(16), nullable=False),
    Column("tier", SmallInteger, nullable=False),
    Column("teams", JSON, nullable=False),
    Column("capacity", SmallInteger, nullable=False),
    Column("presence", String(16), nullable=False),
    Column("slack_user_id", String(64), unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("password_hash", String(255)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("presence_changed_at", UTCDateTime()),
    Column("last_assigned_at", UTCDateTime()),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False, index=True),
    Column("channel", String(32), nullable=False),
    Column("account", String(128), nullable=False),
    Column("thread_key", String(512), nullable=False),
    Column("status", String(24), nullable=False),
    Column("team", String(64), nullable=False),
    Column("tier", SmallInteger, nullable=False),
    Column("priority", SmallInteger, nullable=False),
    Column("assignee_id", Id, ForeignKey("agents.id")),
    Column("assigned_at", UTCDateTime()),
    Column("waiting_since", UTCDateTime()),
    Column("first_response_at", UTCDateTime()),
    Column("resolved_at", UTCDateTime()),
    Column("promised_reply_at", UTCDateTime()),
    Column("last_message_at", UTCDateTime()),
    Column("previous_id", Id, ForeignKey("conversations.id")),
    Column("slack_thread", String(128)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Bumped by every write: readers that follow snapshots from events (the router, other
    # processes) keep the newest and drop stale ones, which timestamps cannot order within
    # one clock tick.
    Column("version", Integer, nullable=False, server_default="1"),
    Index("ix_conversations_status_id", "status", "id"),
    Index("ix_conversations_assignee_status", "assignee_id", "status"),
    Index("ix_conversations_thread", "channel", "account", "thread_key"),
    # The live queue: the head of a team/tier partition is one index lookup.
    Index("ix_conversations_queue", "status", "team", "tier", "priority", "waiting_since", "id"),
)

# One row per period in which a customer waits for an agent: from the message that started
# the wait to the public agent reply that ended it. It carries the promise made in the
# acknowledgement and whether the first-response or next-response target was breached, which
# is what promise tracking and SLA reports are computed from.
waits = Table(
    "waits",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("kind", String(8), nullable=False),  # "first" or "next" response
    Column("started_at", UTCDateTime(), nullable=False),
    Column("promise_made_at", UTCDateTime()),
    Column("promised_at", UTCDateTime()),
    Column("answered_at", UTCDateTime()),  # the public agent reply that ended the wait
    Column("closed_at", UTCDateTime()),  # when the wait ended, answered or not (resolve)
    Column("breached_at", UTCDateTime()),
    Index("ix_waits_conversation_id_answered_at", "conversation_id", "answered_at"),
    Index("ix_waits_customer_id_promise_made_at", "customer_id", "promise_made_at"),
    Index("ix_waits_started_at", "started_at"),
)

# The current conversation of each channel thread: one row per thread, repointed when a new
# conversation starts on it. A unique key here is what keeps two processes from opening two
# conversations for one thread at once.
threads = Table(
    "threads",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("account", String(128), primary_key=True),
    Column("thread_key", String(512), primary_key=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("author", String(16), nullable=False),
    Column("author_id", Id),
    Column("author_name", String(200), nullable=False),
    Column("visibility", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("attachments", JSON),
    # Dedupe: the platform's id within a channel account. Agent messages use the caller's
    # idempotency key under an "api:<agent>" source.
    Column("source", String(200)),
    Column("external_id", String(512)),
    Column("reply_to_id", Id, ForeignKey("messages.id")),
    Column("edited", Boolean, nullable=False, default=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # A held reply withdrawn before it went out (deleted in Slack within the hold window):
    # kept for agents, left out of everything a customer sees.
    Column("retracted", Boolean, nullable=False, default=False, server_default="0"),
    UniqueConstraint("source", "external_id"),
    Index("ix_messages_conversation_id_id", "conversation_id", "id"),
)

message_edits = Table(
    "message_edits",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=False, index=True),
    Column("previous_text", Text, nullable=False),
    Column("edited_at", UTCDateTime(), nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=False, index=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("account", String(128), nullable=False),
    Column("thread_key", String(512), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UTCDateTime(), nullable=False),
    Column("idempotency_key", String(300), nullable=False, unique=True),
    Column("external_id", String(512)),
    Column("last_error", Text),
    Column("lease_owner", String(128)),
    Column("lease_until", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    # "send", or "edit": change what an earlier delivery (``edit_of``) put on the platform.
    Column("operation", String(8), nullable=False, default="send", server_default="send"),
    Column("edit_of", Id),
    # The claim query walks pending rows per conversation in id order.
    Index("ix_deliveries_state_conversation_id_id", "state", "conversation_id", "id"),
    Index("ix_deliveries_state_next_attempt_at", "state", "next_attempt_at"),
    # Bounces name the Message-ID we sent: find its delivery without a scan.
    Index("ix_deliveries_external_id", "external_id"),
)

# How far a channel has read: a Telegram polling offset, an IMAP mailbox's UIDVALIDITY and
# last UID. Advanced only after what was read is committed.
channel_cursors = Table(
    "channel_cursors",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# A channel's own mappings that must survive restarts (matterbridge kept these in memory and
# lost edits on restart): Slack thread per conversation, email Message-IDs per thread.
channel_links = Table(
    "channel_links",
    metadata,
    Column("source", String(200), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("key", String(512), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

templates = Table(
    "templates",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("body", Text, nullable=False),
    Column("language", String(16)),
    Column("team", String(64)),
    Column("created_at", UTCDateTime(), nullable=False),
    # An information-request checklist: the items the message asks the customer for, so one
    # message asks for everything needed (NULL: a plain canned response).
    Column("checklist", JSON),
)

# Access tokens for customers: a web chat visitor's session. Only the SHA-256 of the token is
# stored, so a copy of the database grants no access.
visitors = Table(
    "visitors",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("customer_id", Id, ForeignKey("customers.id"), nullable=False, index=True),
    Column("channel", String(32), nullable=False),
    Column("account", String(128), nullable=False),
    Column("thread_key", String(512), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# --- the inbox (migration 0004) ------------------------------------------------------------

# Signed-in agents: one row per browser session. Only the SHA-256 of the cookie's token is
# stored; the CSRF secret is useless without the cookie, so it is kept as is.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("agent_id", Id, ForeignKey("agents.id"), nullable=False, index=True),
    Column("csrf_secret", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
)

# Failed sign-ins, by subject ("email:<address>" or "ip:<address>"), for the lock-out. Kept in
# the database so that every process counts the same attempts.
login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subject", String(400), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index("ix_login_failures_subject_at", "subject", "at"),
)

# Links to the customer's status page (/status/<token>): only the token's SHA-256 is stored,
# so a copy of the database opens no status page. A conversation may have several links.
status_links = Table(
    "status_links",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

# Customer satisfaction: one rating (1-5) per conversation; a later rating replaces it.
csat = Table(
    "csat",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), nullable=False, unique=True),
    Column("rating", SmallInteger, nullable=False),
    Column("comment", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_csat_created_at", "created_at"),
)

# How far each agent has read each conversation, for the inbox's unread marks.
reads = Table(
    "reads",
    metadata,
    Column("agent_id", Id, ForeignKey("agents.id"), primary_key=True),
    Column("conversation_id", Id, ForeignKey("conversations.id"), primary_key=True),
    Column("last_read_id", Id, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)
