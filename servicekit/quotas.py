"""Per-account quotas, one table for every service, configurable per
deployment (README, "Limits"). A quota hit is a 429 with Retry-After whose
QuotaFailure names the quota (servicekit.errors.quota)."""
import dataclasses

from servicekit import config


@dataclasses.dataclass(frozen=True)
class Quotas:
    sandboxes: int = 100  # live sandboxes (compute)
    runs: int = 256  # runs in flight (compute)
    sessions_with_compute: int = 100  # sessions holding a sandbox (sessions)
    idle_ttl_s: int = 1800  # a /v2/sandbox sandbox unused this long is deleted

    @classmethod
    def from_env(cls) -> "Quotas":
        return cls(sandboxes=int(config.env("CERVER_QUOTA_SANDBOXES", str(cls.sandboxes))),
                   runs=int(config.env("CERVER_QUOTA_RUNS", str(cls.runs))),
                   sessions_with_compute=int(config.env("CERVER_QUOTA_SESSIONS_WITH_COMPUTE",
                                                        str(cls.sessions_with_compute))),
                   idle_ttl_s=int(config.env("CERVER_SANDBOX_IDLE_TTL_S", str(cls.idle_ttl_s))))
