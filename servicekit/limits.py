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
    # Defaults: the settings' (CERVER_SANDBOX_<FIELD>).
    pids: int = config.default("sandbox_pids")
    memory_mb: int = config.default("sandbox_memory_mb")  # tmpfs pages count here too; swap is off
    cpus: float = config.default("sandbox_cpus")
    disk_mb: int = config.default("sandbox_disk_mb")  # the workspace's hard quota
    tmp_mb: int = config.default("sandbox_tmp_mb")  # /tmp, charged to memory_mb; 0 = half of memory_mb

    @property
    def tmp_bytes(self) -> int:
        return min(self.tmp_mb or self.memory_mb // 2, self.memory_mb) * MIB

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


# (field, requirement name, lowest accepted value)
FIELDS = (("pids", "max_processes", 16), ("memory_mb", "memory_mb", 64), ("cpus", "cpus", 0.05),
          ("disk_mb", "disk_mb", 16), ("tmp_mb", "tmp_mb", 1))


def defaults() -> Limits:
    """CERVER_SANDBOX_<PIDS|MEMORY_MB|CPUS|DISK_MB|TMP_MB>."""
    current = config.settings()
    return Limits(**{field: getattr(current, f"sandbox_{field}") for field, *_ in FIELDS})


def maxima() -> Limits:
    """CERVER_SANDBOX_MAX_<...>: the most a session may ask for."""
    base, current = defaults(), config.settings()
    fallback = Limits(pids=max(base.pids, 4096), memory_mb=max(base.memory_mb, 8192),
                      cpus=max(base.cpus, float(os.cpu_count() or 1)), disk_mb=max(base.disk_mb, 51200), tmp_mb=0)
    return Limits(**{field: value if (value := getattr(current, f"sandbox_max_{field}")) is not None
                     else getattr(fallback, field) for field, *_ in FIELDS})


def documented_bounds() -> dict[str, tuple]:
    """This deployment's range of each requirement, for /v2/docs."""
    most = maxima()
    return {f"cerver.v2.Requirements.{name}": (lowest, getattr(most, field) or most.memory_mb)
            for field, name, lowest in FIELDS}


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
    for field, name, lowest in FIELDS:
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
