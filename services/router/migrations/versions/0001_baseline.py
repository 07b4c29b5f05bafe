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
    op.create_table('router_provider_stats',
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('samples', sa.Integer(), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('startup_ewma_ms', sa.Float(), nullable=False),
    sa.Column('updated_at', servicekit.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('provider')
    )
    op.create_table('router_stress_test',
    sa.Column('test_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('result_json', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', servicekit.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('test_id')
    )
    op.create_index(op.f('ix_router_stress_test_account_id'), 'router_stress_test', ['account_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_router_stress_test_account_id'), table_name='router_stress_test')
    op.drop_table('router_stress_test')
    op.drop_table('router_provider_stats')

