"""Compute's tables: the registry of computes and the sandboxes on them."""
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Field, SQLModel, select

from servicekit.db import Database, utc_field


class ComputeRow(SQLModel, table=True):
    __tablename__ = "compute_compute"
    compute_id: str = Field(primary_key=True)
    account_id: str | None = Field(default=None, index=True)  # None: shared with every account
    name: str
    provider: str  # local | relay
    kind: str  # shared | private
    capabilities_json: str = "{}"
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
    runtime: str = "shell"
    network: bool = False
    status: str = "running"  # running | deleted
    state_json: str = "{}"
    provision_ms: float = 0.0
    created_at: datetime = utc_field()
    deleted_at: datetime | None = utc_field(default=None)


TABLES = (ComputeRow, SandboxRow)


async def live_sandboxes(db: Database, account_id: str) -> int:
    """Live sandboxes of an account."""
    async with db.session() as s:
        return (await s.exec(select(func.count()).select_from(SandboxRow).where(
            SandboxRow.account_id == account_id, SandboxRow.status == "running"))).one()
