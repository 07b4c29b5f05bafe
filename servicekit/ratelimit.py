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
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from servicekit import config, errors

# The limits, each CERVER_RATE_<NAME> (servicekit.config: defaults, what each counts).
LIMITS = ("login", "device", "auth_failures", "key")


class RateLimits:
    def __init__(self, storage_uri: str | None = None, overrides: dict[str, str] | None = None):
        uri = storage_uri or config.settings().rate_limit_storage
        # The asyncio flavour of the same storage (limits' "async+" schemes).
        self.storage = storage_from_string(uri if uri.startswith("async+") else "async+" + uri)
        # Two counters per key, weighed across the window's edge: O(1) a hit
        # (a moving window keeps and scans a timestamp per request: 6000 a key).
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)
        self.items = {name: parse((overrides or {}).get(name) or getattr(config.settings(), f"rate_{name}"))
                      for name in LIMITS}

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
        raise errors.quota(f"rate:{name}", item.amount, f"{config.Settings.model_fields[f'rate_{name}'].description.lower()} ({item})", retry)


def client(metadata: dict[str, str]) -> str:
    """The caller's address as the edge saw it, for limits per client: the
    embedded edge sets X-Forwarded-For itself, Envoy appends the address it
    saw, so the last entry is the one no client can forge."""
    return metadata.get("x-forwarded-for", "").split(",")[-1].strip() or "unknown"
