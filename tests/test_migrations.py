"""Schema migrations: every service's history reaches exactly its models,
and a database made by the previous schema, with data in it, upgrades
without losing anything (SQLite and real PostgreSQL)."""
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from servicekit import migrations
from servicekit.config import SERVICES
from servicekit.db import open_database


@pytest.fixture(params=["sqlite", "postgres"])
def sync_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/db.sqlite"
    base = request.getfixturevalue("postgres_url")
    name = "m_" + uuid.uuid4().hex[:10]
    admin = create_engine(_sync(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    return base.rsplit("/", 1)[0] + "/" + name


def _sync(url: str) -> str:
    return url.replace("postgres://", "postgresql+psycopg://").replace("postgresql://", "postgresql+psycopg://")


@pytest.mark.parametrize("service", SERVICES)
def test_history_reaches_the_models_exactly(sync_url, service):
    engine = create_engine(_sync(sync_url))
    migrations.upgrade(service, engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_object": lambda obj, name, kind, reflected, compare_to:
            kind != "table" or name in migrations.metadata(service).tables})
        diff = compare_metadata(context, migrations.metadata(service))
        assert diff == [], f"{service}: models and migrations differ; add a revision:\n{diff}"
        assert migrations.current(service, conn) is not None
    engine.dispose()


async def test_a_first_wave_database_with_data_upgrades_and_keeps_it(sync_url):
    engine = create_engine(_sync(sync_url))
    # The first wave's schema (create_all, no version table), with data in it.
    for service in ("auth", "sessions"):
        migrations.upgrade(service, engine, migrations.BASELINE)
    with engine.begin() as conn:
        for service in ("auth", "sessions"):
            conn.execute(text(f"DROP TABLE {migrations.version_table(service)}"))
        conn.execute(text("INSERT INTO auth_account (account_id, email, name, created_at) "
                          "VALUES ('acct_1', 'old@example.com', 'old', '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO auth_api_key (prefix, key_hash, account_id, name, created_at) "
                          "VALUES ('ck_abcdefghi', 'h', 'acct_1', 'login', '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO auth_device_login (device_code_hash, user_code, client_name, status, "
                          "interval, created_at, expires_at) VALUES ('d', 'BCDFGHJK', 'laptop', 'pending', 2, "
                          "'2026-01-01 00:00:00', '2026-01-01 00:10:00')"))
    url = _sync(sync_url).replace("sqlite://", "sqlite+aiosqlite://")
    for service in ("auth", "sessions"):
        db = await open_database(service, url=url)  # what a service does at start-up
        await db.close()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT email FROM auth_account")).scalar() == "old@example.com"
        assert conn.execute(text("SELECT key_hash, expires_at FROM auth_api_key")).one() == ("h", None)
        assert conn.execute(text("SELECT client_name, client_host FROM auth_device_login")).one() == ("laptop", "")
        tables = set(inspect(conn).get_table_names())
        assert {"auth_login_code", "sessions_idempotency"} <= tables
        for service, head in (("auth", "0002"), ("sessions", "0004")):
            assert migrations.current(service, conn) == head
    engine.dispose()


def test_replicas_starting_together_on_one_sqlite_file_take_turns(tmp_path):
    """Two replicas of each service migrating one fresh SQLite file at once
    (`CERVER_DEV_REPLICAS=2 cerver dev`): both start, the schema is made once."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    code = ("import sys; from sqlalchemy import create_engine; from servicekit import migrations; "
            "[migrations.upgrade(s, create_engine(sys.argv[1])) for s in sys.argv[2:]]")
    procs = [subprocess.Popen([sys.executable, "-c", code, url, *SERVICES], stderr=subprocess.PIPE, text=True)
             for _ in range(6)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-2000:]
    with create_engine(url).connect() as conn:
        assert all(migrations.current(s, conn) for s in SERVICES)
