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
    op.create_table('sessions_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('at', servicekit.db.UTCDateTime(), nullable=False),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('from_status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('to_status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_sessions_event_session_id'), 'sessions_event', ['session_id'], unique=False)
    op.create_table('sessions_session',
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('session_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('session_type', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('harness', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('task', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('workload', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('end_reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('compute_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('sandbox_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('parent_session_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('requirements_json', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('policy_json', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('repo_json', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('metadata_json', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('routing_json', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', servicekit.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', servicekit.db.UTCDateTime(), nullable=False),
    sa.Column('ended_at', servicekit.db.UTCDateTime(), nullable=True),
    sa.Column('expires_at', servicekit.db.UTCDateTime(), nullable=True),
    sa.Column('last_seq', sa.Integer(), nullable=False),
    sa.Column('provision_ms', sa.Float(), nullable=True),
    sa.Column('first_exec_at', servicekit.db.UTCDateTime(), nullable=True),
    sa.Column('last_exec_ms', sa.Float(), nullable=True),
    sa.Column('exec_count', sa.Integer(), nullable=False),
    sa.Column('exec_total_ms', sa.Float(), nullable=False),
    sa.Column('stream_count', sa.Integer(), nullable=False),
    sa.Column('stream_open_total_ms', sa.Float(), nullable=False),
    sa.Column('interaction_count', sa.Integer(), nullable=False),
    sa.Column('predicted_startup_ms', sa.Float(), nullable=False),
    sa.Column('uptime_percent', sa.Float(), nullable=False),
    sa.Column('price_per_second', sa.Float(), nullable=False),
    sa.Column('price_per_session', sa.Float(), nullable=False),
    sa.Column('compute_seconds', sa.Float(), nullable=False),
    sa.Column('compute_attached_at', servicekit.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('session_id')
    )
    op.create_index('ix_sessions_account_created', 'sessions_session', ['account_id', 'created_at', 'session_id'], unique=False)
    op.create_index(op.f('ix_sessions_session_account_id'), 'sessions_session', ['account_id'], unique=False)
    op.create_table('sessions_transcript',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', servicekit.db.UTCDateTime(), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('content', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('metadata_json', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('session_id', 'seq', name='uq_transcript_session_seq')
    )


def downgrade() -> None:
    op.drop_table('sessions_transcript')
    op.drop_index(op.f('ix_sessions_session_account_id'), table_name='sessions_session')
    op.drop_index('ix_sessions_account_created', table_name='sessions_session')
    op.drop_table('sessions_session')
    op.drop_index(op.f('ix_sessions_event_session_id'), table_name='sessions_event')
    op.drop_table('sessions_event')

