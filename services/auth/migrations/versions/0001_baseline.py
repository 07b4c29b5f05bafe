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
    op.create_table('auth_account',
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', servicekit.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('account_id')
    )
    op.create_index(op.f('ix_auth_account_email'), 'auth_account', ['email'], unique=True)
    op.create_table('auth_account_provider',
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('provider', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('credentials_encrypted', sa.LargeBinary(), nullable=False),
    sa.Column('credential_names', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('configured_at', servicekit.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('account_id', 'provider')
    )
    op.create_table('auth_device_login',
    sa.Column('device_code_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('user_code', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('client_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('interval', sa.Integer(), nullable=False),
    sa.Column('created_at', servicekit.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', servicekit.db.UTCDateTime(), nullable=False),
    sa.Column('last_poll_at', servicekit.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('device_code_hash')
    )
    op.create_index(op.f('ix_auth_device_login_user_code'), 'auth_device_login', ['user_code'], unique=True)
    op.create_table('auth_api_key',
    sa.Column('prefix', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('key_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', servicekit.db.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', servicekit.db.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['auth_account.account_id'], ),
    sa.PrimaryKeyConstraint('prefix')
    )
    op.create_index(op.f('ix_auth_api_key_account_id'), 'auth_api_key', ['account_id'], unique=False)
    op.create_index(op.f('ix_auth_api_key_key_hash'), 'auth_api_key', ['key_hash'], unique=True)


def downgrade() -> None:
    op.drop_index(op.f('ix_auth_api_key_key_hash'), table_name='auth_api_key')
    op.drop_index(op.f('ix_auth_api_key_account_id'), table_name='auth_api_key')
    op.drop_table('auth_api_key')
    op.drop_index(op.f('ix_auth_device_login_user_code'), table_name='auth_device_login')
    op.drop_table('auth_device_login')
    op.drop_table('auth_account_provider')
    op.drop_index(op.f('ix_auth_account_email'), table_name='auth_account')
    op.drop_table('auth_account')

