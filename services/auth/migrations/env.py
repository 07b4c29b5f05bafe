"""Alembic environment of the auth service (servicekit.migrations)."""
from alembic import context

from servicekit import migrations

migrations.run_env(context)
