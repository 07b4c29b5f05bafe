"""Per-sandbox cgroups: pids, memory (tmpfs pages included, swap off) and
CPU. cgroup v2 (a delegated subtree, as on Kubernetes nodes) or v1 (one
hierarchy per controller, no systemd), under the cgroup this process was
started in, so a deployment's own envelope still holds around them.

The launcher joins a sandbox's cgroups before it execs bubblewrap: nothing
of the sandbox ever runs outside them."""
import contextlib
import os
import pathlib
import signal
import time

from servicekit.limits import MIB, Limits

MOUNT = pathlib.Path("/sys/fs/cgroup")
CPU_PERIOD_US = 100_000
CAP_SYS_RESOURCE = 24


class CgroupError(RuntimeError):
    pass


def _write(path: pathlib.Path, value) -> None:
    try:
        path.write_text(str(value))
    except OSError as exc:
        raise CgroupError(f"cannot write {path}: {exc.strerror}") from None


def _own_paths() -> dict[str, str]:
    """controller -> this process's cgroup path under its mount ("" for the
    v2 hierarchy). In a container without a cgroup namespace (cgroup v1
    under runc or crun), /proc/self/cgroup gives the host's path while the
    mount shows only the container's own cgroup: the mount's root
    (/proc/self/mountinfo) comes off the front."""
    roots = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            separator = fields.index("-")
            if fields[separator + 1] == "cgroup":
                for option in fields[separator + 3].split(","):
                    roots[option] = fields[3]
    out = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            for name in names.split(",") if names else [""]:
                root = roots.get(name, "/")
                if root != "/" and (path == root or path.startswith(root + "/")):
                    path = path[len(root):] or "/"
                out[name] = path
    return out


def _kill_all(procs: pathlib.Path, rounds: int = 200) -> None:
    """SIGKILL every process listed, until none is left (a fork bomb keeps
    adding some while the first ones die)."""
    for _ in range(rounds):
        try:
            pids = [int(p) for p in procs.read_text().split()]
        except FileNotFoundError:
            return
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.002)


def may_protect() -> bool:
    """Whether this process may exempt a sandbox's agent from the OOM killer
    (oom_score_adj -1000 needs CAP_SYS_RESOURCE)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    return False


def _rmdir(path: pathlib.Path) -> None:
    for _ in range(100):  # the kernel lets go of a cgroup a moment after its last exit
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)


class CgroupV1:
    version = 1
    CONTROLLERS = ("pids", "memory", "cpu")

    def __init__(self, name: str, mount: pathlib.Path = MOUNT):
        own = _own_paths()
        self.bases = {c: mount / c / own.get(c, "/").lstrip("/") / name for c in self.CONTROLLERS}

    def missing(self) -> list[str]:
        return [f"cgroup v1 controller '{c}' (writable {base.parent})" for c, base in self.bases.items()
                if not os.access(base.parent, os.W_OK)]

    def prepare(self) -> None:
        for base in self.bases.values():
            base.mkdir(parents=True, exist_ok=True)
            for child in base.iterdir():  # sandboxes of an earlier run of this process
                if child.is_dir():
                    self.remove(child.name)

    def create(self, sid: str, limits: Limits) -> list[str]:
        for base in self.bases.values():
            (base / sid).mkdir(parents=True, exist_ok=True)
        _write(self.bases["pids"] / sid / "pids.max", limits.pids)
        memory = self.bases["memory"] / sid
        _write(memory / "memory.limit_in_bytes", limits.memory_mb * MIB)
        if (memory / "memory.memsw.limit_in_bytes").exists():  # swap accounting on: no swap at all
            _write(memory / "memory.memsw.limit_in_bytes", limits.memory_mb * MIB)
        _write(memory / "memory.swappiness", 0)
        cpu = self.bases["cpu"] / sid
        _write(cpu / "cpu.cfs_period_us", CPU_PERIOD_US)
        _write(cpu / "cpu.cfs_quota_us", int(limits.cpus * CPU_PERIOD_US))
        return [str(self.bases[c] / sid / "cgroup.procs") for c in self.CONTROLLERS]

    def oom_kills(self, sid: str) -> int:
        try:
            for line in (self.bases["memory"] / sid / "memory.oom_control").read_text().splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0

    def memory_peak(self, sid: str) -> int:
        try:
            return int((self.bases["memory"] / sid / "memory.max_usage_in_bytes").read_text())
        except (OSError, ValueError):
            return 0

    def kill(self, sid: str) -> None:
        _kill_all(self.bases["pids"] / sid / "cgroup.procs")

    def remove(self, sid: str) -> None:
        self.kill(sid)
        for base in self.bases.values():
            _rmdir(base / sid)

    def release(self) -> None:
        """Remove this process's subtree, once its sandboxes are gone."""
        for base in self.bases.values():
            with contextlib.suppress(OSError):
                base.rmdir()


class CgroupV2:
    version = 2
    CONTROLLERS = ("pids", "memory", "cpu")

    def __init__(self, name: str, mount: pathlib.Path = MOUNT):
        self.parent = mount / _own_paths().get("", "/").lstrip("/")
        self.base = self.parent / name

    def missing(self) -> list[str]:
        available = (self.parent / "cgroup.controllers").read_text().split() \
            if (self.parent / "cgroup.controllers").exists() else []
        out = [f"cgroup v2 controller '{c}' delegated to {self.parent}" for c in self.CONTROLLERS
               if c not in available]
        if not os.access(self.parent, os.W_OK):
            out.append(f"a writable cgroup v2 subtree at {self.parent}")
        return out

    def prepare(self) -> None:
        """Take the subtree: v2 lets no process live in a cgroup that hands
        controllers down, so this process moves to a leaf of its own first."""
        leaf = self.parent / "cerver-service"
        leaf.mkdir(exist_ok=True)
        for pid in (self.parent / "cgroup.procs").read_text().split():
            try:
                _write(leaf / "cgroup.procs", pid)
            except CgroupError:
                pass  # a process that exited meanwhile
        enable = " ".join(f"+{c}" for c in self.CONTROLLERS)
        _write(self.parent / "cgroup.subtree_control", enable)
        self.base.mkdir(exist_ok=True)
        _write(self.base / "cgroup.subtree_control", enable)
        for child in self.base.iterdir():
            if child.is_dir():
                self.remove(child.name)

    def create(self, sid: str, limits: Limits) -> list[str]:
        path = self.base / sid
        if not self.base.exists():
            self.prepare()
        path.mkdir(exist_ok=True)
        _write(path / "pids.max", limits.pids)
        _write(path / "memory.max", limits.memory_mb * MIB)
        _write(path / "memory.swap.max", 0)
        if may_protect():
            # An OOM kills every process of the sandbox but its agent, which
            # the host exempts (oom_score_adj -1000); without that right the
            # OOM killer takes the runs' largest process (they score 1000).
            _write(path / "memory.oom.group", 1)
        _write(path / "cpu.max", f"{int(limits.cpus * CPU_PERIOD_US)} {CPU_PERIOD_US}")
        return [str(path / "cgroup.procs")]

    def _events(self, sid: str, name: str) -> int:
        try:
            for line in (self.base / sid / "memory.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == name:
                    return int(value)
        except OSError:
            pass
        return 0

    def oom_kills(self, sid: str) -> int:
        return self._events(sid, "oom_kill")

    def memory_peak(self, sid: str) -> int:
        try:
            return int((self.base / sid / "memory.peak").read_text())
        except (OSError, ValueError):
            return 0

    def kill(self, sid: str) -> None:
        kill_file = self.base / sid / "cgroup.kill"
        if kill_file.exists():
            _write(kill_file, 1)
        _kill_all(self.base / sid / "cgroup.procs")

    def remove(self, sid: str) -> None:
        self.kill(sid)
        _rmdir(self.base / sid)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.base.rmdir()


def detect(name: str, mount: pathlib.Path = MOUNT) -> CgroupV1 | CgroupV2 | None:
    """The cgroup flavour that has the controllers sandboxes need."""
    if (mount / "cgroup.controllers").exists():
        return CgroupV2(name, mount)
    if all((mount / c).is_dir() for c in CgroupV1.CONTROLLERS):
        return CgroupV1(name, mount)
    return None
