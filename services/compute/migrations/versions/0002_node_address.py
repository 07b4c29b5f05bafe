"""Nodes are found by address and known by their process (boot id): a
deployment may run several.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("compute_compute") as batch:
        batch.add_column(sa.Column("address", sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("boot_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False,
                                   server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("compute_compute") as batch:
        batch.drop_column("boot_id")
        batch.drop_column("address")
