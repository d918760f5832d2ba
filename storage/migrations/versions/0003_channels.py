"""channels: cursors, links, edit deliveries, retracted replies

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from storage.tables import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Plain ADD COLUMN, not batch mode: on SQLite batch mode copies the table and would drop
    # the guard triggers that keep notes away from customers.
    op.add_column(
        "messages",
        sa.Column("retracted", sa.Boolean(), nullable=False, server_default="0"),
    )
    op.add_column(
        "deliveries",
        sa.Column("operation", sa.String(length=8), nullable=False, server_default="send"),
    )
    op.add_column(
        "deliveries",
        sa.Column("edit_of", Id, nullable=True),
    )
    op.create_index("ix_deliveries_external_id", "deliveries", ["external_id"])
    op.create_table(
        "channel_cursors",
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "name", name=op.f("pk_channel_cursors")),
    )
    op.create_table(
        "channel_links",
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "kind", "key", name=op.f("pk_channel_links")),
    )


def downgrade() -> None:
    op.drop_table("channel_links")
    op.drop_table("channel_cursors")
    op.drop_index("ix_deliveries_external_id", table_name="deliveries")
    # Native DROP COLUMN (SQLite 3.35+, PostgreSQL): batch mode would drop the guard triggers.
    op.execute("ALTER TABLE deliveries DROP COLUMN edit_of")
    op.execute("ALTER TABLE deliveries DROP COLUMN operation")
    op.execute("ALTER TABLE messages DROP COLUMN retracted")
