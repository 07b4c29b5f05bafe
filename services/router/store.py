"""Router's tables and the statements on them: what provisioning really
did per provider, and stress test results."""
from collections.abc import Callable
from datetime import datetime

from sqlmodel import Field, SQLModel, select

from servicekit.clock import now
from servicekit.db import Database, utc_field


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


class RouterStore:
    def __init__(self, db: Database):
        self.db = db

    async def learn(self, provider: str, change: Callable[[ProviderStatsRow], None]) -> None:
        """change(row) moves the provider's figures, under the row's lock."""
        async with self.db.session() as s:
            row = await s.get(ProviderStatsRow, provider, with_for_update=True)
            if row is None:
                row = ProviderStatsRow(provider=provider, updated_at=now())
            change(row)
            row.updated_at = now()
            s.add(row)

    async def stats(self) -> dict[str, ProviderStatsRow]:
        return {r.provider: r for r in await self.db.rows(ProviderStatsRow, select(ProviderStatsRow))}

    async def save_stress_test(self, test_id: str, account_id: str, status: str, raw: str) -> None:
        async with self.db.session() as s:
            row = await s.get(StressTestRow, test_id)
            if row is None:
                row = StressTestRow(test_id=test_id, account_id=account_id, status=status, result_json=raw,
                                    created_at=now())
            row.status, row.result_json = status, raw
            s.add(row)

    async def stress_test(self, test_id: str) -> StressTestRow | None:
        return await self.db.get(StressTestRow, test_id)
