"""Schema migrations with Alembic, one history per service
(services/<name>/migrations/versions), each with its own version table so
that services may share one database. Every service upgrades its schema to
head at start-up (under an advisory lock on PostgreSQL, a file lock on
SQLite, so replicas starting together take turns); `make migrate` does the
same ahead of a deployment.

A database made before migrations existed (the first wave's create_all) has
the baseline's tables but no version table: it is stamped at the baseline,
then upgraded."""
import contextlib
import fcntl
import os
import pathlib

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, MetaData, inspect, text

ROOT = pathlib.Path(__file__).resolve().parent.parent
BASELINE = "0001"


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


def config(service: str, connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "services" / service / "migrations"))
    cfg.attributes.update(connection=connection, service=service)
    return cfg


def metadata(service: str) -> MetaData:
    """The service's own tables (SQLModel's metadata holds every service's)."""
    import importlib

    md = MetaData()
    for table in importlib.import_module(f"services.{service}.store").TABLES:
        table.__table__.to_metadata(md)
    return md


@contextlib.contextmanager
def _sqlite_turn(engine: Engine):
    """Replicas of a service starting together on one SQLite file take turns
    (PostgreSQL's turns are an advisory lock, in the migration's transaction)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    lock = os.open(f"{database}.migrate-lock", os.O_RDWR | os.O_CREAT, 0o600)  # the owner's alone, as the data
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)  # and with it the lock


def upgrade(service: str, engine: Engine, revision: str = "head") -> None:
    with _sqlite_turn(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"migrate:{service}"})
        cfg = config(service, conn)
        existing = set(inspect(conn).get_table_names())
        ours = set(metadata(service).tables)
        if version_table(service) not in existing and existing & ours:
            command.stamp(cfg, BASELINE)
        command.upgrade(cfg, revision)


def current(service: str, conn: Connection) -> str | None:
    return MigrationContext.configure(conn, opts={"version_table": version_table(service)}).get_current_revision()


def run_env(context) -> None:
    """The body of every service's migrations/env.py."""
    cfg = context.config
    service = cfg.attributes["service"]
    tables = set(metadata(service).tables)
    context.configure(connection=cfg.attributes["connection"], target_metadata=metadata(service),
                      version_table=version_table(service), render_as_batch=True,  # SQLite's ALTER TABLE
                      include_object=lambda obj, name, kind, reflected, compare_to:
                      kind != "table" or name in tables)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    """`make migrate`: every service's schema to head, on CERVER_DATABASE_URL
    (or the embedded default's SQLite files)."""
    from sqlalchemy import create_engine

    from servicekit import db
    from servicekit.config import SERVICES

    for service in SERVICES:
        url = db.database_url(service).replace("+aiosqlite", "")
        upgrade(service, create_engine(url))
        print(f"{service}: schema at head")


if __name__ == "__main__":
    main()
