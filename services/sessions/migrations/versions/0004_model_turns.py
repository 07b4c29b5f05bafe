"""What model turns (run-llm) used: tokens, cost and time, per session.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = (("llm_turns", sa.Integer(), "0"), ("llm_input_tokens", sa.Integer(), "0"),
           ("llm_output_tokens", sa.Integer(), "0"), ("llm_cost_usd", sa.Float(), "0"),
           ("llm_total_ms", sa.Float(), "0"))


def upgrade() -> None:
    with op.batch_alter_table("sessions_session") as batch:
        for name, kind, default in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=False, server_default=default))
        batch.add_column(sa.Column("last_llm_ms", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions_session") as batch:
        batch.drop_column("last_llm_ms")
        for name, _, _ in reversed(COLUMNS):
            batch.drop_column(name)
