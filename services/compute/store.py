"""Compute's tables: the registry of computes and the sandboxes on them."""
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import Field, SQLModel, col, or_, select

from servicekit.clock import now
from servicekit.db import Database, utc_field


class ComputeRow(SQLModel, table=True):
    __tablename__ = "compute_compute"
    compute_id: str = Field(primary_key=True)
    account_id: str | None = Field(default=None, index=True)  # None: shared with every account
    name: str
    provider: str  # local | relay | kubernetes | a cloud provider
    kind: str  # shared | private | cloud (an account's own cloud, or the deployment's)
    capabilities_json: str = "{}"
    address: str = ""  # a node's NodeService (host:port), as last seen answering
    boot_id: str = ""  # a node's process, as last seen: a new one holds only what it lists
    preview_address: str = ""  # a node's preview listener (host:port); empty: none
    heartbeat_window_s: int = 60
    last_heartbeat_at: datetime | None = utc_field(default=None)
    created_at: datetime = utc_field()


class SandboxRow(SQLModel, table=True):
    __tablename__ = "compute_sandbox"
    sandbox_id: str = Field(primary_key=True)
    account_id: str = Field(index=True)
    compute_id: str = Field(index=True)
    provider: str
    session_id: str = ""
    workspace_id: str = ""
    external_id: str = ""  # the provider's own name for it (a cloud sandbox, its snapshot)
    runtime: str = "shell"
    network: bool = False
    preview: bool = False  # its port requirements.preview_port is served publicly
    status: str = "running"  # running | deleted
    state_json: str = "{}"
    provision_ms: float = 0.0
    created_at: datetime = utc_field()
    deleted_at: datetime | None = utc_field(default=None)


TABLES = (ComputeRow, SandboxRow)


class ComputeStore:
    """Every query of the compute service."""

    def __init__(self, db: Database):
        self.db = db

    async def observe_shared(self, row: ComputeRow, live: list[str] | None, listed_at: datetime) -> bool:
        """A shared compute as it answered now. When its process is new (a
        node's boot id), the sandboxes it does not list in `live` are gone
        (those created before it listed them: a create may have landed
        since). True when so."""
        async with self.db.session() as s:
            existing = await s.get(ComputeRow, row.compute_id)
            restarted = existing is None or existing.boot_id != row.boot_id
            if existing is not None:
                row.created_at = existing.created_at
            await s.merge(row)
            if restarted and live is not None:
                await s.exec(update(SandboxRow).where(SandboxRow.compute_id == row.compute_id,
                                                      SandboxRow.status == "running",
                                                      SandboxRow.created_at < listed_at,
                                                      col(SandboxRow.sandbox_id).not_in(live))
                             .values(status="deleted", deleted_at=now()))
        return restarted

    async def add_compute(self, row: ComputeRow) -> None:
        """row, unless its compute is registered already."""
        async with self.db.session() as s:
            if await s.get(ComputeRow, row.compute_id) is None:
                s.add(row)

    async def load(self) -> dict[str, int]:
        """Live sandboxes per compute."""
        return await self.db.run(_load)

    async def occupancy(self, account_id: str) -> tuple[dict[str, int], int]:
        """Live sandboxes per compute, and the account's, read together (a
        create checks both; a Core read on a worker thread takes no write lock)."""
        def work(conn):
            return _load(conn), conn.execute(select(func.count()).select_from(SandboxRow).where(
                SandboxRow.account_id == account_id, SandboxRow.status == "running")).scalar_one()
        return await self.db.run(work)

    async def running(self) -> list[SandboxRow]:
        return await self.db.rows(SandboxRow, select(SandboxRow).where(SandboxRow.status == "running"))

    async def shared(self, provider: str) -> list[ComputeRow]:
        return await self.db.rows(ComputeRow, select(ComputeRow).where(
            col(ComputeRow.account_id).is_(None), ComputeRow.provider == provider))

    async def visible(self, account_id: str) -> list[ComputeRow]:
        return await self.db.rows(ComputeRow, select(ComputeRow).where(
            or_(col(ComputeRow.account_id).is_(None), ComputeRow.account_id == account_id))
            .order_by(ComputeRow.kind.desc(), ComputeRow.created_at))

    async def compute(self, compute_id: str) -> ComputeRow | None:
        return await self.db.get(ComputeRow, compute_id)

    async def save_private(self, account_id: str, compute_id: str, new: ComputeRow, name: str,
                           capabilities_json: str) -> ComputeRow | None:
        """Registers `new`, or updates the account's compute_id; None when
        compute_id is not the account's."""
        async with self.db.session() as s:
            row = await s.get(ComputeRow, compute_id) if compute_id else None
            if compute_id and (row is None or row.account_id != account_id):
                return None
            row = row or new
            row.name, row.capabilities_json, row.last_heartbeat_at = name, capabilities_json, now()
            s.add(row)
        return row

    async def heartbeat(self, compute_id: str) -> None:
        async with self.db.session() as s:
            await s.exec(update(ComputeRow).where(ComputeRow.compute_id == compute_id)
                         .values(last_heartbeat_at=now()))

    async def delete_compute(self, compute_id: str) -> None:
        async with self.db.session() as s:
            await s.delete(await s.get(ComputeRow, compute_id))

    async def add_sandbox(self, row: SandboxRow) -> None:
        await self.db.add(row)

    async def sandbox(self, sandbox_id: str) -> SandboxRow | None:
        return await self.db.get(SandboxRow, sandbox_id)

    async def workspace_owner(self, workspace_id: str) -> SandboxRow | None:
        """The workspace's latest sandbox (a cloud's name for it is there)."""
        async with self.db.session() as s:
            return (await s.exec(select(SandboxRow).where(SandboxRow.workspace_id == workspace_id)
                                 .order_by(col(SandboxRow.created_at).desc()))).first()

    async def sync_cloud(self, account_id: str | None, rows: list[ComputeRow]) -> bool:
        """The cloud computes of an account (None: the deployment's) as they
        are now: rows online, the others it had offline. True if that changed any."""
        query = select(ComputeRow).where(ComputeRow.kind == "cloud", ComputeRow.account_id == account_id
                                         if account_id is not None else col(ComputeRow.account_id).is_(None))
        # Read first: on every listing nothing has usually changed, and a
        # write transaction costs every caller (SQLite serializes them).
        had = {r.compute_id: r.last_heartbeat_at is not None for r in await self.db.rows(ComputeRow, query)}
        if had == {r.compute_id: True for r in rows} or (not rows and not any(had.values())):
            return False
        async with self.db.session() as s:
            had = (await s.exec(query)).all()
            keep = {r.compute_id for r in rows}
            for old in had:
                if old.compute_id not in keep and old.last_heartbeat_at is not None:
                    old.last_heartbeat_at = None
                    s.add(old)
            for row in rows:
                existing = next((o for o in had if o.compute_id == row.compute_id), None)
                if existing is None:
                    s.add(row)
                elif existing.last_heartbeat_at is None:
                    existing.last_heartbeat_at = row.last_heartbeat_at
                    s.add(existing)
        return True

    async def set_external_id(self, sandbox_id: str, external_id: str) -> None:
        async with self.db.session() as s:
            await s.exec(update(SandboxRow).where(SandboxRow.sandbox_id == sandbox_id)
                         .values(external_id=external_id))

    async def set_state(self, sandbox_id: str, raw: str) -> None:
        async with self.db.session() as s:
            await s.exec(update(SandboxRow).where(SandboxRow.sandbox_id == sandbox_id).values(state_json=raw))

    async def mark_deleted(self, sandbox_id: str) -> None:
        async with self.db.session() as s:
            await s.exec(update(SandboxRow).where(SandboxRow.sandbox_id == sandbox_id)
                         .values(status="deleted", deleted_at=now()))


def _load(conn) -> dict[str, int]:
    return dict(conn.execute(select(SandboxRow.compute_id, func.count()).where(SandboxRow.status == "running")
                             .group_by(SandboxRow.compute_id)).all())
