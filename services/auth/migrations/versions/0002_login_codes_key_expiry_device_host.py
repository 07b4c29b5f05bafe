"""Sign-in codes by mail; keys that expire; the host that started a device login.

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
    op.create_table('auth_login_code',
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('code_hash', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts_left', sa.Integer(), nullable=False),
    sa.Column('created_at', servicekit.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', servicekit.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('email')
    )
    op.add_column('auth_api_key', sa.Column('expires_at', servicekit.db.UTCDateTime(), nullable=True))
    op.add_column('auth_device_login', sa.Column('client_host', sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                                 server_default=''))


def downgrade() -> None:
    op.drop_column('auth_device_login', 'client_host')
    op.drop_column('auth_api_key', 'expires_at')
    op.drop_table('auth_login_code')

