"""Rate limits, with the `limits` library: one table of what is limited, by
what, and how much (settings, CERVER_RATE_<NAME>, in the library's notation,
e.g. "10/minute"). A hit over a limit is a 429 with Retry-After whose
QuotaFailure names the limit.

Counters live in CERVER_RATE_LIMIT_STORAGE (memory:// by default: per
process, so with N replicas a limit holds N times over; redis://host:6379
shares them across replicas)."""
import math
import time

from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from servicekit import config, errors

# name -> (default, what it counts)
LIMITS = {
    "login": ("10/minute", "email logins and code checks per address and per client"),
    "device": ("60/minute", "device-flow starts and polls per client"),
    "auth_failures": ("30/minute", "failed key authentications per client"),
    "key": ("6000/minute", "requests per API key"),
}


class RateLimits:
    def __init__(self, storage_uri: str | None = None, overrides: dict[str, str] | None = None):
        uri = storage_uri or config.env("CERVER_RATE_LIMIT_STORAGE", "memory://")
        # The asyncio flavour of the same storage (limits' "async+" schemes).
        self.storage = storage_from_string(uri if uri.startswith("async+") else "async+" + uri)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.items = {name: parse((overrides or {}).get(name) or config.env(f"CERVER_RATE_{name.upper()}", default))
                      for name, (default, _) in LIMITS.items()}

    def set(self, name: str, limit: str) -> None:
        self.items[name] = parse(limit)

    async def hit(self, name: str, *identifiers: str) -> None:
        """Count one; over the limit, refuse with 429."""
        item = self.items[name]
        if not await self.limiter.hit(item, name, *identifiers):
            await self._refuse(name, identifiers)

    async def check(self, name: str, *identifiers: str) -> None:
        """Refuse with 429 if the limit is spent, without counting."""
        item = self.items[name]
        if not await self.limiter.test(item, name, *identifiers):
            await self._refuse(name, identifiers)

    async def _refuse(self, name: str, identifiers) -> None:
        item = self.items[name]
        stats = await self.limiter.get_window_stats(item, name, *identifiers)
        retry = max(1, math.ceil(stats.reset_time - time.time()))
        raise errors.quota(f"rate:{name}", item.amount, f"{LIMITS[name][1]} ({item})", retry)


def client(metadata: dict[str, str]) -> str:
    """The caller's address as the edge saw it, for limits per client: the
    embedded edge sets X-Forwarded-For itself, Envoy appends the address it
    saw, so the last entry is the one no client can forge."""
    return metadata.get("x-forwarded-for", "").split(",")[-1].strip() or "unknown"
