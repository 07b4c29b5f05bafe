"""The resource limits of a sandbox: one definition of the defaults, the
deployment's maxima, and how a session's requirements pick within them.
Sessions check requirements against them before anything is created; the
compute service applies them."""
import dataclasses
import os

from servicekit import config, errors

MIB = 1 << 20


@dataclasses.dataclass(frozen=True)
class Limits:
    pids: int = 1024
    memory_mb: int = 2048  # tmpfs pages count here too; swap is off
    cpus: float = 1.0
    disk_mb: int = 10240  # the workspace's hard quota
    tmp_mb: int = 0  # /tmp, charged to memory_mb; 0 = half of memory_mb

    @property
    def tmp_bytes(self) -> int:
        return min(self.tmp_mb or self.memory_mb // 2, self.memory_mb) * MIB

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


# (field, requirement name, environment suffix, lowest accepted value)
FIELDS = (("pids", "max_processes", "PIDS", 16), ("memory_mb", "memory_mb", "MEMORY_MB", 64),
          ("cpus", "cpus", "CPUS", 0.05), ("disk_mb", "disk_mb", "DISK_MB", 16), ("tmp_mb", "tmp_mb", "TMP_MB", 1))


def _read(prefix: str, base: Limits) -> Limits:
    values = {}
    for field, _, suffix, _ in FIELDS:
        kind = type(getattr(base, field))
        values[field] = kind(config.env(f"{prefix}{suffix}", str(getattr(base, field))))
    return Limits(**values)


def defaults() -> Limits:
    """CERVER_SANDBOX_<PIDS|MEMORY_MB|CPUS|DISK_MB|TMP_MB>."""
    return _read("CERVER_SANDBOX_", Limits())


def maxima() -> Limits:
    """CERVER_SANDBOX_MAX_<...>: the most a session may ask for."""
    base = defaults()
    return _read("CERVER_SANDBOX_MAX_", Limits(pids=max(base.pids, 4096), memory_mb=max(base.memory_mb, 8192),
                                                  cpus=max(base.cpus, float(os.cpu_count() or 1)),
                                                  disk_mb=max(base.disk_mb, 51200), tmp_mb=0))


def documented_bounds() -> dict[str, tuple]:
    """This deployment's range of each requirement, for /v2/docs."""
    most = maxima()
    return {f"cerver.v2.Requirements.{name}": (lowest, getattr(most, field) or most.memory_mb)
            for field, name, _, lowest in FIELDS}


def needs_network(requirements) -> bool:
    """Whether a sandbox gets a way out (its own slirp network): to install
    packages, or for a browser. A public preview needs none: it is reached
    inside the sandbox's own namespace."""
    return requirements.package_install or requirements.browser


def check(requirements) -> None:
    """Refuse requirements outside this deployment's range (400)."""
    choose(requirements, defaults(), maxima())


def choose(requirements, base: Limits, most: Limits) -> Limits:
    """The limits for a sandbox: the deployment's defaults, overridden by
    what the requirements ask for, each within [lowest, maximum]."""
    values = {}
    for field, name, _, lowest in FIELDS:
        asked = getattr(requirements, name) if requirements is not None and requirements.HasField(name) else None
        if asked is None:
            values[field] = min(getattr(base, field), getattr(most, field)) if getattr(most, field) else \
                getattr(base, field)
            continue
        ceiling = getattr(most, field) or (most.memory_mb if field == "tmp_mb" else None)
        if asked < lowest or (ceiling and asked > ceiling):
            raise errors.invalid(f"requirements.{name} must be between {lowest} and {ceiling} on this deployment",
                                 f"requirements.{name}")
        values[field] = asked
    return Limits(**values)
