"""Nodes serve public previews on a listener of their own.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compute_compute") as batch:
        batch.add_column(sa.Column("preview_address", sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                   server_default=""))
    with op.batch_alter_table("compute_sandbox") as batch:
        batch.add_column(sa.Column("preview", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("compute_sandbox") as batch:
        batch.drop_column("preview")
    with op.batch_alter_table("compute_compute") as batch:
        batch.drop_column("preview_address")
