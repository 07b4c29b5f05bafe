"""Authentication for every RPC of every service.

The edge forwards the caller's `authorization: Bearer ck_…` as gRPC metadata.
The interceptor resolves it through the auth service (cached for a few
seconds, so a revoked key stops working within that window) and puts the
caller's Principal in a context variable for the handler and for calls it
makes to peers, which forward the same credentials.

Services acting without a user request (timeouts, background work) present
the service token instead, naming the account they act for.
"""
import contextvars
import dataclasses
import hmac
from collections.abc import Awaitable, Callable

import cachetools

from servicekit import config, ratelimit
from servicekit.errors import ServiceError, unauthenticated
from servicekit.ratelimit import RateLimits

SERVICE_TOKEN_HEADER = "x-cerver-service-token"
ACCOUNT_HEADER = "x-cerver-account-id"
HOP_HEADER = "x-cerver-hop"
CACHE_SECONDS = 5.0


@dataclasses.dataclass(frozen=True)
class Principal:
    account_id: str
    key_prefix: str = ""
    service: bool = False  # an internal caller holding the service token
    api_key: str = dataclasses.field(default="", repr=False)

    def outgoing_metadata(self) -> tuple[tuple[str, str], ...]:
        """Credentials to present to a peer on this principal's behalf; a
        hop mark (keyed with the service token, so no client can forge it)
        tells the peer the request was counted already."""
        if self.api_key:
            return (("authorization", f"Bearer {self.api_key}"), (HOP_HEADER, hop_mark(self.api_key)))
        return service_metadata(self.account_id)


def hop_mark(api_key: str) -> str:
    return hmac.new(config.service_token().encode(), api_key.encode(), "sha256").hexdigest()


def service_metadata(account_id: str = "") -> tuple[tuple[str, str], ...]:
    md = [(SERVICE_TOKEN_HEADER, config.service_token())]
    if account_id:
        md.append((ACCOUNT_HEADER, account_id))
    return tuple(md)


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("cerver_principal", default=None)


def current() -> Principal:
    principal = _current.get()
    if principal is None:
        raise unauthenticated()
    return principal


def account_id() -> str:
    return current().account_id


def bind(principal: Principal | None) -> contextvars.Token:
    return _current.set(principal)


def unbind(token: contextvars.Token) -> None:
    try:
        _current.reset(token)
    except ValueError:
        # A stream's handler closed from another context (its caller went
        # away): the binding went with the context it was made in.
        pass


# Resolves an API key to (account_id, key_prefix), or None when unknown.
KeyResolver = Callable[[str], Awaitable[tuple[str, str] | None]]


class Authenticator:
    def __init__(self, resolve_key: KeyResolver, limits: RateLimits | None = None):
        self._resolve_key = resolve_key
        self._cache: cachetools.TTLCache = cachetools.TTLCache(maxsize=10_000, ttl=CACHE_SECONDS)
        self.limits = limits or RateLimits()

    async def principal(self, metadata: dict[str, str]) -> Principal:
        token = metadata.get(SERVICE_TOKEN_HEADER)
        if token:
            expected = config.service_token()
            if expected and hmac.compare_digest(token.encode(), expected.encode()):
                return Principal(account_id=metadata.get(ACCOUNT_HEADER, ""), service=True)
            raise unauthenticated("invalid service token")
        key = bearer(metadata.get("authorization", ""))
        if not key:
            raise unauthenticated("missing API key: send Authorization: Bearer ck_…")
        found = self._cache.get(key)
        if found is None:
            client = ratelimit.client(metadata)
            await self.limits.check("auth_failures", client)  # a client guessing keys is stopped
            try:
                found = await self._resolve_key(key)
            except ServiceError:  # known, but refused (expired)
                await self.limits.hit("auth_failures", client)
                raise
            if found is None:
                await self.limits.hit("auth_failures", client)
                raise unauthenticated("invalid or revoked API key")
            self._cache[key] = found
        mark = metadata.get(HOP_HEADER)
        if not (mark and config.service_token() and hmac.compare_digest(mark, hop_mark(key))):
            await self.limits.hit("key", found[1])  # counted where the request enters, once
        return Principal(account_id=found[0], key_prefix=found[1], api_key=key)


def bearer(header: str) -> str:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""
