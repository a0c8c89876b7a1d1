"""leaner inbox indexes

Every webhook request writes each index of inbox_event: drop the two no query needs (a lone
account_id, covered by account_received; claim_token, now that the claim uses RETURNING) and
keep the connection_id index for connection events only.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

CONNECTION_EVENTS = sa.text("connection_id IS NOT NULL")


def upgrade():
    with op.batch_alter_table('inbox_event', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_event_account_id')
        batch_op.drop_index('ix_inbox_event_claim_token')
        batch_op.drop_index('ix_inbox_event_connection_id')
        batch_op.create_index('ix_inbox_event_connection_id', ['connection_id'], unique=False,
                              sqlite_where=CONNECTION_EVENTS,
                              postgresql_where=CONNECTION_EVENTS)


def downgrade():
    with op.batch_alter_table('inbox_event', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_event_connection_id')
        batch_op.create_index('ix_inbox_event_connection_id', ['connection_id'], unique=False)
        batch_op.create_index('ix_inbox_event_claim_token', ['claim_token'], unique=False)
        batch_op.create_index('ix_inbox_event_account_id', ['account_id'], unique=False)
