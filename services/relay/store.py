"""Relay's table: which replica holds which private compute's socket."""
from datetime import datetime

from sqlmodel import Field, SQLModel

from servicekit.db import utc_field


class ConnectionRow(SQLModel, table=True):
    __tablename__ = "relay_connection"
    compute_id: str = Field(primary_key=True)
    account_id: str = Field(index=True)
    replica_id: str
    replica_addr: str  # the replica's gRPC address, for forwarding
    connected_at: datetime = utc_field()


TABLES = (ConnectionRow,)
