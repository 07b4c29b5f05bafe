"""Storage: SQLAlchemy over PostgreSQL (psycopg 3) when CERVER_DATABASE_URL
names one, otherwise a SQLite file per service. An async engine serves the
ORM; a sync engine on worker threads serves the hot paths (Database.run)."""
import asyncio
import contextlib
import functools
import os
from collections.abc import AsyncIterator, Callable
from datetime import timezone
from typing import TypeVar

import sqlalchemy
import sqlalchemy.ext.asyncio
from sqlalchemy import Connection, DateTime, Engine, bindparam, event, insert, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from servicekit import config, migrations

T = TypeVar("T")
M = TypeVar("M", bound=SQLModel)


def database_url(service: str) -> str:
    url = config.settings().database_url
    if not url:
        return f"sqlite+aiosqlite:///{config.data_dir() / (service + '.db')}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Database:
    def __init__(self, engine: AsyncEngine, sync_engine: Engine):
        self.engine = engine
        self.sync_engine = sync_engine
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        self.is_sqlite = engine.dialect.name == "sqlite"

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block ends, rolled back on error."""
        async with self._sessions() as session:
            async with session.begin():
                yield session

    async def upsert(self, row: SQLModel) -> None:
        """Insert the row, or update the one with its key. Two callers racing
        on a new key: the loser's INSERT fails on the key, and its retry
        finds the row and updates it."""
        for attempt in (1, 2):
            try:
                async with self.session() as s:
                    await s.merge(row)
                return
            except IntegrityError:
                if attempt == 2:
                    raise

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work` (Core statements) in one transaction on a worker
        thread: one hand-off for the whole transaction instead of one per
        statement, for the paths every run takes."""
        return await asyncio.to_thread(self._in_transaction, work)

    def _in_transaction(self, work: Callable[[Connection], T]) -> T:
        with self.sync_engine.begin() as conn:
            return work(conn)

    # Row helpers for the hot paths, over Database.run: an ORM unit of work on
    # the async engine costs about twice a Core statement on a worker thread.
    async def get(self, model: type[M], key) -> M | None:
        """One row by primary key."""
        found = await self.run(lambda conn: conn.execute(_by_key(model), {"key": key}).mappings().first())
        return model.model_construct(**found) if found is not None else None

    async def rows(self, model: type[M], query) -> list[M]:
        """The rows of a select() of `model`."""
        found = await self.run(lambda conn: conn.execute(query).mappings().all())
        return [model.model_construct(**r) for r in found]

    async def first(self, model: type[M], query) -> M | None:
        """The first row of a select() of `model`, or None."""
        found = await self.run(lambda conn: conn.execute(query.limit(1)).mappings().first())
        return model.model_construct(**found) if found is not None else None

    async def add(self, *rows: SQLModel) -> None:
        """Insert rows in one transaction."""
        await self.run(lambda conn: insert_rows(conn, *rows))

    async def close(self) -> None:
        await self.engine.dispose()
        self.sync_engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets readers run beside the one writer; busy_timeout makes writers
    # queue instead of failing under concurrent appends.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _no_implicit_begin(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # the driver's own BEGIN is off: _begin_immediate sends it


def _begin_immediate(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


@functools.cache
def _by_key(model: type[SQLModel]):
    table = model.__table__
    (key,) = table.primary_key.columns
    return table.select().where(key == bindparam("key"))


@functools.cache
def insert_statement(model: type[SQLModel]):
    """INSERT into the model's table, built once and reused."""
    return insert(model.__table__)


def insert_rows(conn: Connection, *rows: SQLModel) -> None:
    """Insert rows inside a Database.run transaction (autoincrement keys left unset)."""
    for row in rows:
        table = type(row).__table__
        values = {c.key: getattr(row, c.key) for c in table.columns}
        for pk in table.primary_key.columns:
            if values[pk.key] is None:
                del values[pk.key]
        conn.execute(insert_statement(type(row)), values)


async def open_database(service: str, url: str | None = None) -> Database:
    """The service's database, its schema migrated to head (servicekit.migrations)."""
    url = url or database_url(service)
    # Through the modules: OpenTelemetry's instrumentation wraps their
    # functions (servicekit.telemetry), not names imported before it did.
    create_engine, create_async_engine = sqlalchemy.create_engine, sqlalchemy.ext.asyncio.create_async_engine
    if url.startswith("sqlite"):
        _private_file(make_url(url).database)
        engine = create_async_engine(url, connect_args={"timeout": 10})
        sync_engine = create_engine(url.replace("+aiosqlite", ""),
                                    connect_args={"timeout": 10, "check_same_thread": False})
        for e in (engine.sync_engine, sync_engine):
            event.listen(e, "connect", _sqlite_pragmas)
        # ORM units of work read, then write: begun deferred, their write
        # fails at once (SQLITE_BUSY, no waiting) when another connection
        # wrote meanwhile. BEGIN IMMEDIATE makes them queue for the writer lock.
        event.listen(engine.sync_engine, "connect", _no_implicit_begin)
        event.listen(engine.sync_engine, "begin", _begin_immediate)
    else:
        pool = config.db_pool()
        engine = create_async_engine(url, pool_pre_ping=True, **pool)
        sync_engine = create_engine(url, pool_pre_ping=True, **pool)
    await asyncio.to_thread(migrations.upgrade, service, sync_engine)
    return Database(engine, sync_engine)


def _private_file(path: str | None) -> None:
    """The database file readable by its owner only; SQLite gives its -wal
    and -shm files the database file's permissions."""
    if path and path != ":memory:":
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)


class UTCDateTime(TypeDecorator):
    """Datetimes stored as naive UTC and read back as aware UTC, the same on
    SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=timezone.utc) if value is not None else None


def utc_field(**kwargs):
    """A SQLModel field holding a UTC datetime."""
    return Field(sa_type=UTCDateTime, **kwargs)
