"""Idempotency keys of transcript appends.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

import servicekit.db

revision = "0002"
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sessions_idempotency',
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('body_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('seqs_json', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', servicekit.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('session_id', 'key')
    )


def downgrade() -> None:
    op.drop_table('sessions_idempotency')

