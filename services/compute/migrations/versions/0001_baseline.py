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
    op.create_table('compute_compute',
    sa.Column('compute_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('capabilities_json', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('heartbeat_window_s', sa.Integer(), nullable=False),
    sa.Column('last_heartbeat_at', servicekit.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', servicekit.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('compute_id')
    )
    op.create_index(op.f('ix_compute_compute_account_id'), 'compute_compute', ['account_id'], unique=False)
    op.create_table('compute_sandbox',
    sa.Column('sandbox_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('compute_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('session_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('workspace_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('runtime', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('network', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('state_json', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('provision_ms', sa.Float(), nullable=False),
    sa.Column('created_at', servicekit.db.UTCDateTime(), nullable=False),
    sa.Column('deleted_at', servicekit.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('sandbox_id')
    )
    op.create_index(op.f('ix_compute_sandbox_account_id'), 'compute_sandbox', ['account_id'], unique=False)
    op.create_index(op.f('ix_compute_sandbox_compute_id'), 'compute_sandbox', ['compute_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_compute_sandbox_compute_id'), table_name='compute_sandbox')
    op.drop_index(op.f('ix_compute_sandbox_account_id'), table_name='compute_sandbox')
    op.drop_table('compute_sandbox')
    op.drop_index(op.f('ix_compute_compute_account_id'), table_name='compute_compute')
    op.drop_table('compute_compute')

