"""Accounts, keys, the device flow and provider credentials."""
import asyncio
import hashlib
import hmac
import json
import re
import secrets
from datetime import timedelta

from cryptography.fernet import Fernet
from sqlalchemy.exc import IntegrityError

from servicekit import config, errors
from servicekit.clock import now
from servicekit.db import Database
from servicekit.ratelimit import RateLimits
from services.auth.mailer import DevMailbox
from services.auth.store import (AccountProviderRow, AccountRow, ApiKeyRow, AuthStore, Change, DeviceLoginRow,
                                 LoginCodeRow)

KEY_PREFIX_LEN = 12  # "ck_" + 9 characters: unique, and safe to show
USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # no vowels, no look-alikes
DEVICE_TTL = timedelta(minutes=10)
DEVICE_INTERVAL = 2
KEY_LIFETIME_S = (60, 10 * 365 * 24 * 3600)  # what expires_in may ask for
LOGIN_CODE_TTL = timedelta(minutes=10)
LOGIN_CODE_ATTEMPTS = 5
LOGIN_CODE_RESEND_S = 30  # a new code is mailed at most this often per address


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def new_api_key() -> str:
    return "ck_" + secrets.token_urlsafe(32)


def code_hash(email: str, code: str, salt: str = "") -> str:
    """A login code is six digits: slow-hashed (scrypt, salted), so that a
    stolen table does not give the code away within its ten minutes."""
    salt = salt or secrets.token_hex(8)
    digest = hashlib.scrypt(code.encode(), salt=(salt + email).encode(), n=1 << 14, r=8, p=1).hex()
    return f"{salt}${digest}"


def code_matches(email: str, code: str, stored: str) -> bool:
    salt = stored.split("$", 1)[0]
    return hmac.compare_digest(code_hash(email, code, salt), stored)


def load_fernet() -> Fernet:
    """CERVER_SECRET_KEY in deployments; a key file in the data folder for
    the embedded default (created once, readable only by its owner)."""
    key = config.settings().secret_key.get_secret_value()
    if not key:
        path = config.data_dir() / "secret.key"
        if not path.exists():
            path.touch(mode=0o600)
            path.write_bytes(Fernet.generate_key())
        key = path.read_text().strip()
    return Fernet(key)


class Accounts:
    def __init__(self, db: Database, fernet: Fernet, open_signup: bool, public_url: str, mailer=None,
                 limits: RateLimits | None = None):
        self.store = AuthStore(db)
        self.fernet = fernet
        self.mailer = mailer or DevMailbox()
        self.limits = limits or RateLimits()
        self.open_signup = open_signup
        self.public_url = public_url.rstrip("/")

    # -- accounts and keys -------------------------------------------------
    async def login(self, email: str, name: str, code: str = "", client: str = "") -> tuple[AccountRow | None, str]:
        """(account, key) for a new email; (None, "") when a code was mailed
        to an existing one; (account, key) for an existing one with its code."""
        email = email.strip(" \t\n\v\f\r").lower()  # the whitespace its pattern allows
        await self.limits.hit("login", "client", client or "unknown")
        await self.limits.hit("login", "email", email)
        account = await self.store.account_by_email(email)
        if account is not None:
            if not code:
                await self._mail_code(email)
                return None, ""
            await self._check_code(email, code)
            key, row = _new_key(account.account_id, "login")
            await self.store.add(row)
            return account, key
        if code:
            raise errors.unauthenticated("invalid or expired sign-in code")
        if not self.open_signup:
            raise errors.permission_denied("email sign-up is disabled here; sign in with the device flow")
        account = AccountRow(account_id="acct_" + secrets.token_hex(12), email=email,
                             name=name.strip() or email.split("@")[0], created_at=now())
        key, row = _new_key(account.account_id, "login")
        await self.store.add(account, row)
        return account, key

    async def _mail_code(self, email: str) -> None:
        code = f"{secrets.randbelow(10 ** 6):06d}"

        async def renew(row: LoginCodeRow | None) -> Change:
            if row is not None and (now() - row.created_at).total_seconds() < LOGIN_CODE_RESEND_S \
                    and row.expires_at > now():
                return Change(False)  # mailed a moment ago: no mail bombing through this endpoint
            hashed = await asyncio.to_thread(code_hash, email, code)
            return Change(True, save=(LoginCodeRow(email=email, code_hash=hashed, attempts_left=LOGIN_CODE_ATTEMPTS,
                                                   created_at=now(), expires_at=now() + LOGIN_CODE_TTL),))
        try:
            if not await self.store.change(LoginCodeRow, renew, key=email):
                return
        except IntegrityError:
            return  # a concurrent request for the same address made (and mails) the code
        minutes = int(LOGIN_CODE_TTL.total_seconds() // 60)
        try:
            await self.mailer.send(email, f"Your Cerver sign-in code: {code}",
                                   f"Your Cerver sign-in code is {code}\n\nIt works once, for {minutes} minutes: "
                                   f"POST {self.public_url}/v2/auth/login "
                                   f"{{\"email\": \"{email}\", \"code\": \"{code}\"}}"
                                   f"\n\nIf you did not ask for it, ignore this mail.\n")
        except BaseException:
            await self.store.forget_login_code(email)  # not sent: the next request sends a new one
            raise

    async def _check_code(self, email: str, code: str) -> None:
        """The code mailed to `email`, once; every wrong try spends one of its attempts."""
        async def spend(row: LoginCodeRow | None) -> Change:
            if row is None or row.expires_at <= now() or row.attempts_left <= 0:
                return Change(False)
            if await asyncio.to_thread(code_matches, email, code.strip(), row.code_hash):
                return Change(True, delete=(row,))
            row.attempts_left -= 1
            return Change(False, save=(row,))
        if not await self.store.change(LoginCodeRow, spend, key=email):
            raise errors.unauthenticated("invalid or expired sign-in code; ask for a new one with your email alone")

    async def account(self, account_id: str) -> tuple[AccountRow, int]:
        account, keys = await self.store.account(account_id)
        if account is None:
            raise errors.not_found("account", account_id)
        return account, keys

    async def list_keys(self, account_id: str) -> list[ApiKeyRow]:
        return await self.store.keys(account_id)

    async def create_key(self, account_id: str, name: str, expires_in: int | None = None) -> tuple[str, ApiKeyRow]:
        if len(name) > 100:
            raise errors.invalid("name is at most 100 characters", "name")
        if expires_in is not None and not KEY_LIFETIME_S[0] <= expires_in <= KEY_LIFETIME_S[1]:
            raise errors.invalid(f"expires_in is {KEY_LIFETIME_S[0]} to {KEY_LIFETIME_S[1]} seconds", "expires_in")
        key, row = _new_key(account_id, name, expires_in)
        await self.store.add(row)
        return key, row

    async def delete_key(self, account_id: str, prefix: str) -> None:
        if not await self.store.delete_key(account_id, prefix):
            raise errors.not_found("api key", prefix)

    async def resolve_key(self, api_key: str) -> tuple[str, str] | None:
        if not api_key.startswith("ck_"):
            return None
        row = await self.store.key_by_hash(sha256(api_key))
        if row is None:
            return None
        if row.expires_at is not None and row.expires_at <= now():
            raise errors.key_expired(f"this API key ({row.prefix}…) expired at {row.expires_at.isoformat()}; "
                                     "create a new one")
        await self.store.key_used(row.prefix, now())
        return row.account_id, row.prefix

    # -- device login (RFC 8628 style) ------------------------------------
    async def start_device(self, client_name: str, client_host: str = "") -> tuple[str, DeviceLoginRow]:
        device_code = secrets.token_urlsafe(32)
        code = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
        row = DeviceLoginRow(device_code_hash=sha256(device_code), user_code=code,
                             client_name=client_name[:200], client_host=client_host[:100], interval=DEVICE_INTERVAL,
                             created_at=now(), expires_at=now() + DEVICE_TTL)
        await self.store.add(row)
        return device_code, row

    def verification_uri(self) -> str:
        # The edge's approval page (gateway/device.html), which calls
        # POST /v2/auth/approve with the signed-in user's key.
        return f"{self.public_url}/device"

    async def poll_device(self, device_code: str) -> tuple[str, str, str, int]:
        """(status, api_key, account_id, interval). The key is delivered once."""
        async def poll(row: DeviceLoginRow | None) -> Change:
            if row is None:
                raise errors.not_found("device login", "device_code")
            t = now()
            if row.status == "consumed" or row.expires_at < t:
                return Change(("expired", "", "", row.interval))
            too_fast = row.last_poll_at is not None and (t - row.last_poll_at).total_seconds() < row.interval * 0.8
            row.last_poll_at = t
            if too_fast and row.status == "pending":
                row.interval += 5
                return Change(("slow_down", "", "", row.interval), save=(row,))
            if row.status == "approved":
                key, key_row = _new_key(row.account_id, f"device:{row.client_name}"[:100])
                row.status = "consumed"
                return Change(("approved", key, row.account_id, row.interval), save=(row, key_row))
            return Change((row.status, "", "", row.interval), save=(row,))
        return await self.store.change(DeviceLoginRow, poll, key=sha256(device_code))

    async def pending_device(self, user_code: str) -> DeviceLoginRow:
        """A device login still waiting for approval, by the code the user typed."""
        return _pending(await self.store.device_by_code(_user_code(user_code)), user_code)

    async def approve_device(self, account_id: str, user_code: str, deny: bool) -> DeviceLoginRow:
        async def decide(row: DeviceLoginRow | None) -> Change:
            row = _pending(row, user_code)
            row.status = "denied" if deny else "approved"
            row.account_id = None if deny else account_id
            return Change(row, save=(row,))
        return await self.store.change(DeviceLoginRow, decide, where=DeviceLoginRow.user_code == _user_code(user_code))

    # -- account providers -------------------------------------------------
    async def list_providers(self, account_id: str) -> list[AccountProviderRow]:
        return await self.store.providers(account_id)

    async def enable_provider(self, account_id: str, provider: str, credentials: dict[str, str]) -> AccountProviderRow:
        # The contract's rules (servicekit.providers) checked the provider and
        # its credential names before this call.

        sealed = self.fernet.encrypt(json.dumps(credentials).encode())
        row = AccountProviderRow(account_id=account_id, provider=provider, credentials_encrypted=sealed,
                                 credential_names=",".join(sorted(credentials)), configured_at=now())
        await self.store.upsert_provider(row)
        return row

    async def disable_provider(self, account_id: str, provider: str) -> None:
        if not await self.store.delete_provider(account_id, provider):
            raise errors.not_found("account provider", provider)

    async def provider_credentials(self, account_id: str, provider: str) -> dict[str, str]:
        row = await self.store.provider(account_id, provider)
        if row is None:
            raise errors.not_found("account provider", provider)
        return json.loads(self.fernet.decrypt(row.credentials_encrypted))


def _new_key(account_id: str, name: str, expires_in: int | None = None) -> tuple[str, ApiKeyRow]:
    """A new key (shown once) and its row (its hash)."""
    key = new_api_key()
    return key, ApiKeyRow(prefix=key[:KEY_PREFIX_LEN], key_hash=sha256(key), account_id=account_id, name=name,
                          created_at=now(), expires_at=now() + timedelta(seconds=expires_in) if expires_in else None)


def _user_code(typed: str) -> str:
    return re.sub(r"[^A-Z]", "", typed.upper())


def _pending(row: DeviceLoginRow | None, typed: str) -> DeviceLoginRow:
    if row is None or row.status != "pending" or row.expires_at < now():
        raise errors.not_found("device login", typed[:20])
    return row
