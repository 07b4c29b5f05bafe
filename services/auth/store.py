"""Auth's tables and the statements on them. Keys and device codes are
stored only as SHA-256 hashes (they are high-entropy random, so a fast hash
is the right tool); provider credentials only encrypted."""
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import delete, func, update
from sqlmodel import Field, SQLModel, select

from servicekit.db import Database, utc_field

M = TypeVar("M", bound=SQLModel)


class AccountRow(SQLModel, table=True):
    __tablename__ = "auth_account"
    account_id: str = Field(primary_key=True)
    email: str = Field(index=True, unique=True)
    name: str
    created_at: datetime = utc_field()


class ApiKeyRow(SQLModel, table=True):
    __tablename__ = "auth_api_key"
    prefix: str = Field(primary_key=True)
    key_hash: str = Field(index=True, unique=True)
    account_id: str = Field(index=True, foreign_key="auth_account.account_id")
    name: str = ""
    created_at: datetime = utc_field()
    last_used_at: datetime | None = utc_field(default=None)
    expires_at: datetime | None = utc_field(default=None)  # None: until deleted


class DeviceLoginRow(SQLModel, table=True):
    __tablename__ = "auth_device_login"
    device_code_hash: str = Field(primary_key=True)
    user_code: str = Field(index=True, unique=True)
    client_name: str = ""
    client_host: str = ""  # the address that started it, shown before approval
    status: str = "pending"  # pending | approved | denied | consumed
    account_id: str | None = None
    interval: int = 2
    created_at: datetime = utc_field()
    expires_at: datetime = utc_field()
    last_poll_at: datetime | None = utc_field(default=None)


class LoginCodeRow(SQLModel, table=True):
    """The one-time code mailed to an account's address (its hash); one per
    email, replaced by a new request, deleted when used."""
    __tablename__ = "auth_login_code"
    email: str = Field(primary_key=True)
    code_hash: str
    attempts_left: int = 5
    created_at: datetime = utc_field()
    expires_at: datetime = utc_field()


class AccountProviderRow(SQLModel, table=True):
    __tablename__ = "auth_account_provider"
    account_id: str = Field(primary_key=True)
    provider: str = Field(primary_key=True)
    credentials_encrypted: bytes
    credential_names: str  # comma-separated names, for listing
    configured_at: datetime = utc_field()


TABLES = (AccountRow, ApiKeyRow, DeviceLoginRow, LoginCodeRow, AccountProviderRow)


@dataclasses.dataclass
class Change:
    """What a unit of work on a locked row decided: rows to save or delete
    in its transaction, and what it answers."""
    result: Any = None
    save: tuple[SQLModel, ...] = ()
    delete: tuple[SQLModel, ...] = ()


class AuthStore:
    def __init__(self, db: Database):
        self.db = db

    async def change(self, model: type[M], decide: Callable[[M | None], Awaitable[Change]], key=None,
                     where=None):
        """One transaction: the row (by primary key, or the first `where`
        matches), locked for update; decide(row) says what to write."""
        async with self.db.session() as s:
            if key is not None:
                row = await s.get(model, key, with_for_update=True)
            else:
                row = (await s.exec(select(model).where(where).with_for_update())).first()
            outcome = await decide(row)
            for changed in outcome.save:
                await s.merge(changed)
            for gone in outcome.delete:
                await s.delete(gone)
            return outcome.result

    async def add(self, *rows: SQLModel) -> None:
        await self.db.add(*rows)

    # -- accounts and keys
    async def account_by_email(self, email: str) -> AccountRow | None:
        return await self.db.first(AccountRow, select(AccountRow).where(AccountRow.email == email))

    async def account(self, account_id: str) -> tuple[AccountRow | None, int]:
        """The account and how many keys it has."""
        def work(conn):
            account = conn.execute(select(AccountRow).where(AccountRow.account_id == account_id)).mappings().first()
            keys = conn.execute(select(func.count()).select_from(ApiKeyRow)
                                .where(ApiKeyRow.account_id == account_id)).scalar_one()
            return account, keys
        account, keys = await self.db.run(work)
        return (AccountRow.model_construct(**account) if account else None), keys

    async def keys(self, account_id: str) -> list[ApiKeyRow]:
        return await self.db.rows(ApiKeyRow, select(ApiKeyRow).where(ApiKeyRow.account_id == account_id)
                                  .order_by(ApiKeyRow.created_at))

    async def key_by_hash(self, key_hash: str) -> ApiKeyRow | None:
        return await self.db.first(ApiKeyRow, select(ApiKeyRow).where(ApiKeyRow.key_hash == key_hash))

    async def key_used(self, prefix: str, at: datetime) -> None:
        await self.db.run(lambda conn: conn.execute(
            update(ApiKeyRow).where(ApiKeyRow.prefix == prefix).values(last_used_at=at)))

    async def delete_key(self, account_id: str, prefix: str) -> bool:
        """False when the account has no such key."""
        return await self.db.run(lambda conn: conn.execute(delete(ApiKeyRow).where(
            ApiKeyRow.prefix == prefix, ApiKeyRow.account_id == account_id)).rowcount > 0)

    async def forget_login_code(self, email: str) -> None:
        await self.db.run(lambda conn: conn.execute(delete(LoginCodeRow).where(LoginCodeRow.email == email)))

    # -- device logins
    async def device_by_code(self, user_code: str) -> DeviceLoginRow | None:
        return await self.db.first(DeviceLoginRow, select(DeviceLoginRow).where(DeviceLoginRow.user_code == user_code))

    # -- account providers
    async def providers(self, account_id: str) -> list[AccountProviderRow]:
        return await self.db.rows(AccountProviderRow, select(AccountProviderRow).where(
            AccountProviderRow.account_id == account_id).order_by(AccountProviderRow.provider))

    async def provider(self, account_id: str, provider: str) -> AccountProviderRow | None:
        return await self.db.first(AccountProviderRow, select(AccountProviderRow).where(
            AccountProviderRow.account_id == account_id, AccountProviderRow.provider == provider))

    async def upsert_provider(self, row: AccountProviderRow) -> None:
        await self.db.upsert(row)

    async def delete_provider(self, account_id: str, provider: str) -> bool:
        """False when the account had not enabled it."""
        return await self.db.run(lambda conn: conn.execute(delete(AccountProviderRow).where(
            AccountProviderRow.account_id == account_id, AccountProviderRow.provider == provider)).rowcount > 0)
