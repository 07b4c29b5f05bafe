"""Relay's table and the statements on it: which replica holds which
private compute's socket."""
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Field, SQLModel

from servicekit.db import Database, utc_field


class ConnectionRow(SQLModel, table=True):
    __tablename__ = "relay_connection"
    compute_id: str = Field(primary_key=True)
    account_id: str = Field(index=True)
    replica_id: str
    replica_addr: str  # the replica's gRPC address, for forwarding
    connected_at: datetime = utc_field()


TABLES = (ConnectionRow,)


class RelayStore:
    def __init__(self, db: Database):
        self.db = db

    async def connected(self, row: ConnectionRow) -> None:
        await self.db.upsert(row)

    async def disconnected(self, compute_id: str, replica_id: str) -> None:
        """The socket on this replica closed (a newer one elsewhere stays)."""
        await self.db.run(lambda conn: conn.execute(delete(ConnectionRow).where(
            ConnectionRow.compute_id == compute_id, ConnectionRow.replica_id == replica_id)))

    async def connection(self, compute_id: str) -> ConnectionRow | None:
        return await self.db.get(ConnectionRow, compute_id)
