"""inbox: sessions, lock-out, status links, CSAT, unread marks, template checklists

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ADD COLUMN, never batch mode: on SQLite batch mode copies the table and would
    # drop the guard triggers that keep notes away from customers.
    op.add_column("templates", sa.Column("checklist", sa.JSON(), nullable=True))
    op.create_table(
        "sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("agent_id", Id, nullable=False),
        sa.Column("csrf_secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_sessions_agent_id_agents")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_sessions")),
    )
    op.create_index("ix_sessions_agent_id", "sessions", ["agent_id"])
    op.create_table(
        "login_failures",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=400), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index("ix_login_failures_subject_at", "login_failures", ["subject", "at"])
    op.create_table(
        "status_links",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_status_links_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_status_links")),
    )
    op.create_index("ix_status_links_conversation_id", "status_links", ["conversation_id"])
    op.create_table(
        "csat",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_csat_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_csat")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_csat_conversation_id")),
    )
    op.create_index("ix_csat_created_at", "csat", ["created_at"])
    op.create_table(
        "reads",
        sa.Column("agent_id", Id, nullable=False),
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("last_read_id", Id, nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_reads_agent_id_agents")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_reads_conversation_id_conversations"),
        ),
        sa.PrimaryKeyConstraint("agent_id", "conversation_id", name=op.f("pk_reads")),
    )


def downgrade() -> None:
    op.drop_table("reads")
    op.drop_index("ix_csat_created_at", table_name="csat")
    op.drop_table("csat")
    op.drop_index("ix_status_links_conversation_id", table_name="status_links")
    op.drop_table("status_links")
    op.drop_index("ix_login_failures_subject_at", table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_index("ix_sessions_agent_id", table_name="sessions")
    op.drop_table("sessions")
    # Native DROP COLUMN (SQLite 3.35+, PostgreSQL): batch mode would drop the guard triggers.
    op.execute("ALTER TABLE templates DROP COLUMN checklist")
