"""Storage: an async SQLAlchemy engine over PostgreSQL (psycopg 3) when
CERVER_DATABASE_URL names one, otherwise a SQLite file per service."""
import contextlib
from collections.abc import AsyncIterator, Sequence

from datetime import timezone

from sqlalchemy import DateTime, event, text
from sqlalchemy.types import TypeDecorator
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from servicekit import config


def database_url(service: str) -> str:
    url = config.env("CERVER_DATABASE_URL")
    if not url:
        return f"sqlite+aiosqlite:///{config.data_dir() / (service + '.db')}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


class Database:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine
        self._sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
        self.is_sqlite = engine.dialect.name == "sqlite"

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block ends, rolled back on error."""
        async with self._sessions() as session:
            async with session.begin():
                yield session

    async def close(self) -> None:
        await self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    # WAL lets readers run beside the one writer; busy_timeout makes writers
    # queue instead of failing under concurrent appends.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


async def open_database(service: str, tables: Sequence[type[SQLModel]], url: str | None = None) -> Database:
    url = url or database_url(service)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 10})
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    async with engine.begin() as conn:
        if not url.startswith("sqlite"):
            # Replicas starting together must not race to create the same table.
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": service})
        # Idempotent: only missing tables are created.
        await conn.run_sync(SQLModel.metadata.create_all, tables=[t.__table__ for t in tables])
    return Database(engine)


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
