"""Router's tables: what provisioning really did per provider, and stress
test results."""
from datetime import datetime

from sqlmodel import Field, SQLModel

from servicekit.db import utc_field


class ProviderStatsRow(SQLModel, table=True):
    __tablename__ = "router_provider_stats"
    provider: str = Field(primary_key=True)
    samples: int = 0
    failures: int = 0
    startup_ewma_ms: float = 0.0
    updated_at: datetime = utc_field()


class StressTestRow(SQLModel, table=True):
    __tablename__ = "router_stress_test"
    test_id: str = Field(primary_key=True)
    account_id: str = Field(index=True)
    status: str
    result_json: str  # the StressTest message as JSON
    created_at: datetime = utc_field()


TABLES = (ProviderStatsRow, StressTestRow)
