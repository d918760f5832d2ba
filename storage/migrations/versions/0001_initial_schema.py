"""initial schema

Revision ID: 0001
Revises: 
"""
from alembic import op
import sqlalchemy as sa

from sqlalchemy import text

from storage.tables import UTCDateTime


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

#: Refuses, inside the database, a delivery row for a message that is not public, and any
#: change of a message's visibility. The gate in bridge/gate.py is the real guard; this is
#: the last line of defence against a future bug or a hand-written SQL statement.
SQLITE_GUARDS = (
    text(
        """
        CREATE TRIGGER deliveries_public_only BEFORE INSERT ON deliveries
        WHEN (SELECT visibility FROM messages WHERE id = NEW.message_id) IS NOT 'public'
        BEGIN SELECT RAISE(ABORT, 'internal messages are never delivered to customers'); END
        """
    ),
    text(
        """
        CREATE TRIGGER messages_visibility_fixed BEFORE UPDATE OF visibility ON messages
        WHEN NEW.visibility IS NOT OLD.visibility
        BEGIN SELECT RAISE(ABORT, 'a message''s visibility never changes'); END
        """
    ),
)
POSTGRES_GUARDS = (
    text(
        """
        CREATE FUNCTION bridge_deliveries_public_only() RETURNS trigger AS $$
        BEGIN
          IF (SELECT visibility FROM messages WHERE id = NEW.message_id)
             IS DISTINCT FROM 'public' THEN
            RAISE EXCEPTION 'internal messages are never delivered to customers';
          END IF;
          RETURN NEW;
        END $$ LANGUAGE plpgsql
        """
    ),
    text(
        """
        CREATE TRIGGER deliveries_public_only BEFORE INSERT ON deliveries
        FOR EACH ROW EXECUTE FUNCTION bridge_deliveries_public_only()
        """
    ),
    text(
        """
        CREATE FUNCTION bridge_messages_visibility_fixed() RETURNS trigger AS $$
        BEGIN
          IF NEW.visibility IS DISTINCT FROM OLD.visibility THEN
            RAISE EXCEPTION 'a message''s visibility never changes';
          END IF;
          RETURN NEW;
        END $$ LANGUAGE plpgsql
        """
    ),
    text(
        """
        CREATE TRIGGER messages_visibility_fixed BEFORE UPDATE ON messages
        FOR EACH ROW EXECUTE FUNCTION bridge_messages_visibility_fixed()
        """
    ),
)



def upgrade() -> None:
    op.create_table('agents',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('tier', sa.SmallInteger(), nullable=False),
    sa.Column('teams', sa.JSON(), nullable=False),
    sa.Column('capacity', sa.SmallInteger(), nullable=False),
    sa.Column('presence', sa.String(length=16), nullable=False),
    sa.Column('slack_user_id', sa.String(length=64), nullable=True),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('presence_changed_at', UTCDateTime(), nullable=True),
    sa.Column('last_assigned_at', UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agents')),
    sa.UniqueConstraint('email', name=op.f('uq_agents_email')),
    sa.UniqueConstraint('slack_user_id', name=op.f('uq_agents_slack_user_id')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_agents_token_hash'))
    )
    op.create_table('customers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers'))
    )
    op.create_table('templates',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.Column('team', sa.String(length=64), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_templates')),
    sa.UniqueConstraint('name', name=op.f('uq_templates_name'))
    )
    op.create_table('conversations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('account', sa.String(length=128), nullable=False),
    sa.Column('thread_key', sa.String(length=512), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('team', sa.String(length=64), nullable=False),
    sa.Column('tier', sa.SmallInteger(), nullable=False),
    sa.Column('priority', sa.SmallInteger(), nullable=False),
    sa.Column('assignee_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('waiting_since', UTCDateTime(), nullable=True),
    sa.Column('first_response_at', UTCDateTime(), nullable=True),
    sa.Column('resolved_at', UTCDateTime(), nullable=True),
    sa.Column('promised_reply_at', UTCDateTime(), nullable=True),
    sa.Column('last_message_at', UTCDateTime(), nullable=True),
    sa.Column('previous_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('slack_thread', sa.String(length=128), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['assignee_id'], ['agents.id'], name=op.f('fk_conversations_assignee_id_agents')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_conversations_customer_id_customers')),
    sa.ForeignKeyConstraint(['previous_id'], ['conversations.id'], name=op.f('fk_conversations_previous_id_conversations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversations'))
    )
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.create_index('ix_conversations_assignee_status', ['assignee_id', 'status'], unique=False)
        batch_op.create_index('ix_conversations_thread', ['channel', 'account', 'thread_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_conversations_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index('ix_conversations_status_id', ['status', 'id'], unique=False)

    op.create_table('identities',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('external_id', sa.String(length=320), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_identities_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identities')),
    sa.UniqueConstraint('channel', 'external_id', name=op.f('uq_identities_channel_external_id'))
    )
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_identities_customer_id'), ['customer_id'], unique=False)

    op.create_table('visitors',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('account', sa.String(length=128), nullable=False),
    sa.Column('thread_key', sa.String(length=512), nullable=False),
    sa.Column('expires_at', UTCDateTime(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_visitors_customer_id_customers')),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_visitors'))
    )
    with op.batch_alter_table('visitors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visitors_customer_id'), ['customer_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('conversation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('author', sa.String(length=16), nullable=False),
    sa.Column('author_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('author_name', sa.String(length=200), nullable=False),
    sa.Column('visibility', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('attachments', sa.JSON(), nullable=True),
    sa.Column('source', sa.String(length=200), nullable=True),
    sa.Column('external_id', sa.String(length=512), nullable=True),
    sa.Column('reply_to_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('edited', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_messages_conversation_id_conversations')),
    sa.ForeignKeyConstraint(['reply_to_id'], ['messages.id'], name=op.f('fk_messages_reply_to_id_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('source', 'external_id', name=op.f('uq_messages_source_external_id'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_conversation_id_id', ['conversation_id', 'id'], unique=False)

    op.create_table('threads',
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('account', sa.String(length=128), nullable=False),
    sa.Column('thread_key', sa.String(length=512), nullable=False),
    sa.Column('conversation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_threads_conversation_id_conversations')),
    sa.PrimaryKeyConstraint('channel', 'account', 'thread_key', name=op.f('pk_threads'))
    )
    op.create_table('deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('conversation_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('account', sa.String(length=128), nullable=False),
    sa.Column('thread_key', sa.String(length=512), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', UTCDateTime(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=300), nullable=False),
    sa.Column('external_id', sa.String(length=512), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('lease_owner', sa.String(length=128), nullable=True),
    sa.Column('lease_until', UTCDateTime(), nullable=True),
    sa.Column('created_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('sent_at', UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_deliveries_conversation_id_conversations')),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_deliveries_message_id_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_deliveries_idempotency_key'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deliveries_message_id'), ['message_id'], unique=False)
        batch_op.create_index('ix_deliveries_state_conversation_id_id', ['state', 'conversation_id', 'id'], unique=False)
        batch_op.create_index('ix_deliveries_state_next_attempt_at', ['state', 'next_attempt_at'], unique=False)

    op.create_table('message_edits',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('previous_text', sa.Text(), nullable=False),
    sa.Column('edited_at', UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_edits_message_id_messages')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_edits'))
    )
    with op.batch_alter_table('message_edits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_edits_message_id'), ['message_id'], unique=False)

    guards = SQLITE_GUARDS if op.get_bind().dialect.name == "sqlite" else POSTGRES_GUARDS
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS deliveries_public_only" + _on("deliveries"))
    op.execute("DROP TRIGGER IF EXISTS messages_visibility_fixed" + _on("messages"))
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION IF EXISTS bridge_deliveries_public_only()")
        op.execute("DROP FUNCTION IF EXISTS bridge_messages_visibility_fixed()")
    with op.batch_alter_table('message_edits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_edits_message_id'))

    op.drop_table('message_edits')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_state_next_attempt_at')
        batch_op.drop_index('ix_deliveries_state_conversation_id_id')
        batch_op.drop_index(batch_op.f('ix_deliveries_message_id'))

    op.drop_table('deliveries')
    op.drop_table('threads')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_conversation_id_id')

    op.drop_table('messages')
    with op.batch_alter_table('visitors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visitors_customer_id'))

    op.drop_table('visitors')
    with op.batch_alter_table('identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_identities_customer_id'))

    op.drop_table('identities')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_status_id')
        batch_op.drop_index(batch_op.f('ix_conversations_customer_id'))
        batch_op.drop_index('ix_conversations_thread')
        batch_op.drop_index('ix_conversations_assignee_status')

    op.drop_table('conversations')
    op.drop_table('templates')
    op.drop_table('customers')
    op.drop_table('agents')


def _on(table: str) -> str:
    return "" if op.get_bind().dialect.name == "sqlite" else f" ON {table}"
