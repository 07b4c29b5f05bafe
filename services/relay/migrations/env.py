"""Alembic environment of the relay service (servicekit.migrations)."""
from alembic import context

from servicekit import migrations

migrations.run_env(context)
