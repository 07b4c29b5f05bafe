"""Baseline: the schema of the first wave (before migrations).

Revision ID: 0001
Revises: None
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import servicekit.db

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('relay_connection',
    sa.Column('compute_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('replica_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('replica_addr', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('connected_at', servicekit.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('compute_id')
    )
    op.create_index(op.f('ix_relay_connection_account_id'), 'relay_connection', ['account_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_relay_connection_account_id'), table_name='relay_connection')
    op.drop_table('relay_connection')

