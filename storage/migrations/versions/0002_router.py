"""router: the live queue's index, waiting periods, customer time zones

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("assigned_at", UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("version", sa.Integer(), nullable=False, server_default="1")
        )
    op.create_index(
        "ix_conversations_queue",
        "conversations",
        ["status", "team", "tier", "priority", "waiting_since", "id"],
    )
    op.create_table(
        "waits",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("conversation_id", Id, nullable=False),
        sa.Column("customer_id", Id, nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("promise_made_at", UTCDateTime(), nullable=True),
        sa.Column("promised_at", UTCDateTime(), nullable=True),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("breached_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name=op.f("fk_waits_conversation_id_conversations")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_waits_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waits")),
    )
    op.create_index(
        "ix_waits_conversation_id_answered_at", "waits", ["conversation_id", "answered_at"]
    )
    op.create_index(
        "ix_waits_customer_id_promise_made_at", "waits", ["customer_id", "promise_made_at"]
    )
    op.create_index("ix_waits_started_at", "waits", ["started_at"])


def downgrade() -> None:
    op.drop_table("waits")
    op.drop_index("ix_conversations_queue", table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("version")
        batch.drop_column("assigned_at")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("timezone")
