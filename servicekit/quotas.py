"""Per-account quotas, one table for every service, configurable per
deployment (README, "Limits"). A quota hit is a 429 with Retry-After whose
QuotaFailure names the quota (servicekit.errors.quota)."""
import dataclasses

from servicekit import config


@dataclasses.dataclass(frozen=True)
class Quotas:
    # Defaults: the settings' (CERVER_QUOTA_*, CERVER_SANDBOX_IDLE_TTL_S).
    sandboxes: int = config.default("quota_sandboxes")  # live sandboxes (compute)
    runs: int = config.default("quota_runs")  # runs in flight (compute)
    sessions_with_compute: int = config.default("quota_sessions_with_compute")  # sessions holding a sandbox
    watches: int = config.default("quota_watches")  # session watches open (sessions, per replica)
    idle_ttl_s: int = config.default("sandbox_idle_ttl_s")  # a /v2/sandbox sandbox unused this long is deleted

    @classmethod
    def from_env(cls) -> "Quotas":
        current = config.settings()
        return cls(sandboxes=current.quota_sandboxes, runs=current.quota_runs,
                   sessions_with_compute=current.quota_sessions_with_compute, watches=current.quota_watches,
                   idle_ttl_s=current.sandbox_idle_ttl_s)
