"""Auth's tables. Keys and device codes are stored only as SHA-256 hashes
(they are high-entropy random, so a fast hash is the right tool); provider
credentials only encrypted."""
from datetime import datetime

from sqlmodel import Field, SQLModel

from servicekit.db import utc_field


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
