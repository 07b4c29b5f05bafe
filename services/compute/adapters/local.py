"""The `local` provider: sandboxes on this host, isolated for hostile code.

Each sandbox is one long-lived bubblewrap process running sandbox_agent.py
as the pid 1 of its own user, PID, IPC, UTS, cgroup and (unless asked
otherwise) network namespaces; a run costs one spawn inside namespaces that
already exist. Around it (README, "Threat model"):

- a host uid of its own from a reserved range, never Cerver's, with no
  capabilities and no_new_privs;
- its own cgroups (pids, memory with /tmp's pages and no swap, CPU), joined by
  the launcher before it execs bubblewrap;
- a seccomp filter; no nested user namespaces;
- /tmp a tmpfs sized within the memory limit, the workspace an ext4 image
  with a hard quota, mounted nosuid,nodev;
- an agent that its own code cannot reach: pid 1 (signals from inside are
  dropped) and not dumpable (its /proc files and pipes cannot be opened).
  Output caps and deadlines are enforced again here, outside the sandbox.
"""
import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import logging
import os
import pathlib
import shutil
import signal
import socket
import time
from collections.abc import AsyncIterator

from servicekit import config
from services.compute.adapters.base import (RUNTIME_ARGV, Cell, RunEvent, SandboxGone, SandboxRecord, SandboxRefused,
                                           install_command)
from servicekit import limits as limits_mod
from services.compute.isolation import cgroups, egress, netns, seccomp
from services.compute.isolation.egress import EgressUnavailable
from services.compute.isolation.identities import Identities, UidRange
from servicekit.limits import Limits
from services.compute.isolation.workspaces import WorkspaceError, Workspaces, checked, new_id

log = logging.getLogger("cerver.compute.local")
AGENT = pathlib.Path(__file__).resolve().parent.parent / "sandbox_agent.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # the sandbox's own interpreter, not Cerver's venv
SANDBOX_UID = 1000  # inside the sandbox; mapped to the workspace's host uid
ETC_SHARED = ("hosts", "nsswitch.conf", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives",
              "ssl", "ca-certificates", "localtime", "mime.types",
              "matplotlibrc", "fonts")  # what Debian's matplotlib reads: its defaults, fontconfig
# Sandboxes that ask for network get it through slirp4netns in their own
# network namespace: outbound traffic is NATed in user space, and the host's
# loopback (Cerver's own services, a local database) stays out of reach.
SLIRP_DNS = "10.0.2.3"
# The launcher joins the cgroups named before `--`, then execs the rest:
# nothing of the sandbox runs before it is inside them.
LAUNCHER = 'for f; do [ "$f" = -- ] && break; echo 0 > "$f" || exit 125; shift; done; shift; exec "$@"'
# A run's reply must come this long after its own timeout, or the sandbox is
# taken for stuck and stopped.
HOST_GRACE_S = 10.0
# The longest line the agent may send: a whole file call's bytes in base64
# (run output comes in chunks of 64 KiB).
LINE_LIMIT = 4 * -(-config.MAX_FILE_BYTES // 3) + (64 << 10)
CAP_NOTE_ROOM = 4096  # past a run's output cap, room for the agent's note that it cut
# A cell's deadline past its timeout: the kernel's start (on the first cell)
# and the interrupt's grace (the agent gives up on a kernel after 5 s).
KERNEL_START_S = 90.0


async def _read_pipe(fd: int, until: bytes | None, timeout: float) -> bytes:
    """Read a pipe without a thread: up to and including `until`, or one byte.
    The fd is closed after; b"" when the writer closed without writing."""
    reader = asyncio.StreamReader()
    transport, _ = await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0))
    try:
        if until is None:
            return await asyncio.wait_for(reader.read(1), timeout)
        return await asyncio.wait_for(reader.readuntil(until), timeout)
    except asyncio.IncompleteReadError as exc:
        return exc.partial
    finally:
        transport.close()


class IsolationUnavailable(RuntimeError):
    pass


class LocalSandbox:
    """The host's end of one sandbox agent."""

    def __init__(self, proc: asyncio.subprocess.Process, workspace_id: str, limits: Limits, cap: int):
        self.proc = proc
        self.workspace_id = workspace_id  # also the name of its cgroups
        self.limits = limits
        self.cap = cap
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Queue] = {}
        self._write_lock = asyncio.Lock()
        self._reader = asyncio.create_task(self._read())
        self.ready = asyncio.get_running_loop().create_future()
        self.network: asyncio.subprocess.Process | None = None  # slirp4netns, when it has network
        self.child_pid = 0  # the sandbox's pid 1 (its agent), as the host sees it
        self.uid = 0  # its host uid (= gid), isolated
        self.broken = ""  # why the host stopped trusting this sandbox
        self.oom_kills = 0  # the kernel's count of OOM kills in its cgroup, when last read

    async def _read(self) -> None:
        try:
            while True:
                try:
                    line = await self.proc.stdout.readline()
                    if not line:
                        break
                    msg = json.loads(line)
                except (ValueError, asyncio.LimitOverrunError) as exc:
                    # Only our agent writes here; anything else is an attack.
                    self.broken = f"the sandbox broke its protocol ({type(exc).__name__})"
                    log.warning("%s: %s", self.workspace_id, self.broken)
                    self.proc.kill()
                    break
                if msg.get("type") == "ready":
                    if not self.ready.done():
                        self.ready.set_result(msg)
                    continue
                queue = self._pending.get(msg.get("id"))
                if queue is not None:
                    queue.put_nowait(msg)
        finally:
            if not self.ready.done():
                self.ready.set_exception(SandboxGone("sandbox agent exited during start-up"))
            for queue in self._pending.values():
                queue.put_nowait({"type": "gone"})

    async def request(self, op: str, deadline: float | None = None, **fields) -> AsyncIterator[dict]:
        """Send one request; yield its replies until the last one. With a
        deadline (seconds), a sandbox that has not finished by then is stopped."""
        if self.proc.returncode is not None or self._reader.done():
            raise SandboxGone(self.broken or "the sandbox is no longer running")
        rid = next(self._ids)
        queue: asyncio.Queue = asyncio.Queue()
        self._pending[rid] = queue
        finished = False
        until = None if deadline is None else asyncio.get_running_loop().time() + deadline
        try:
            await self._send({"id": rid, "op": op, **fields})
            while True:
                try:
                    # A timeout, not wait_for: no task made for every message.
                    async with asyncio.timeout_at(until):
                        msg = await queue.get()
                except TimeoutError:
                    self.broken = "the sandbox stopped answering"
                    self.proc.kill()
                    raise SandboxGone(self.broken) from None
                kind = msg["type"]
                if kind == "gone":
                    raise SandboxGone(self.broken or "the sandbox stopped while serving the request")
                if kind == "error":
                    finished = True
                    if msg.get("kind") == "unavailable":  # what serves the request in the sandbox failed
                        raise SandboxGone(str(msg.get("message", "unavailable"))[:1000])
                    raise SandboxRefused(msg.get("message", "refused"), not_found=msg.get("kind") == "not_found")
                finished = kind in ("exit", "file", "cell", "restarted")
                yield msg
                if finished:
                    return
        finally:
            self._pending.pop(rid, None)
            if not finished and self.proc.returncode is None:
                # The caller went away mid-run: stop the run in the sandbox.
                try:
                    await self._send({"op": "cancel", "target": rid})
                except (ConnectionError, SandboxGone):
                    pass

    def saw_oom(self, kills: int) -> bool:
        """Whether the sandbox's OOM-kill count went up since last asked."""
        seen, self.oom_kills = self.oom_kills, kills
        return kills > seen

    def drain_stderr(self) -> None:
        """Keep reading what bwrap and the agent say on stderr (nothing, unless
        something broke), so that the pipe never fills; log the start of it."""
        async def drain() -> None:
            said = await self.proc.stderr.read(4096)
            if said:
                log.warning("sandbox %s said: %s", self.workspace_id, said.decode(errors="replace").strip())
            while await self.proc.stderr.read(1 << 16):
                pass
        self._stderr = asyncio.create_task(drain())

    async def _send(self, message: dict) -> None:
        async with self._write_lock:
            try:
                self.proc.stdin.write(json.dumps(message).encode() + b"\n")
                await self.proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise SandboxGone("the sandbox is no longer running") from exc

    async def stop(self) -> None:
        if self.child_pid and self.proc.returncode is None:
            # Killing the namespace's pid 1 takes everything in it.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child_pid, signal.SIGKILL)
        if self.proc.returncode is None:
            self.proc.kill()  # bwrap --die-with-parent/--unshare-pid: the whole tree goes
            await self.proc.wait()
        if self.network is not None and self.network.returncode is None:
            self.network.kill()
            await self.network.wait()
        self._reader.cancel()


def probe_problems(provider: "LocalProvider") -> list[str]:
    """What this host lacks for isolated sandboxes, each named; [] when a
    real sandbox, built exactly as every other, started and answered."""
    problems = []
    if shutil.which("bwrap") is None:
        problems.append("bubblewrap (apt-get install bubblewrap)")
    if os.geteuid() != 0:
        problems.append("root, to give each sandbox its own host uid, cgroups and workspace image")
    for tool in ("setpriv", "mkfs.ext4", "mount", "umount"):
        if shutil.which(tool) is None:
            problems.append(f"{tool} (util-linux / e2fsprogs)")
    problems += provider.identities.range.problems()
    try:
        if int(pathlib.Path("/proc/sys/user/max_user_namespaces").read_text()) < 1:
            problems.append("user namespaces (sysctl user.max_user_namespaces > 0)")
    except (OSError, ValueError):
        problems.append("user namespaces (/proc/sys/user/max_user_namespaces)")
    if not os.path.exists("/dev/loop-control"):
        problems.append("loop devices (/dev/loop-control) for workspace images")
    if provider.cgroups is None:
        problems.append("cgroups with the pids, memory and cpu controllers (v2, or v1 under /sys/fs/cgroup/<name>)")
    else:
        problems += provider.cgroups.missing()
    try:
        provider.seccomp_filter()
    except (ImportError, OSError, RuntimeError) as exc:
        problems.append(f"libseccomp, for the sandbox's syscall filter ({exc})")
    return problems


class LocalProvider:
    provider = "local"

    def __init__(self, root: pathlib.Path, isolated: bool = True, limits: Limits | None = None,
                 maxima: Limits | None = None, output_cap: int = 1 << 20, warm: int = 2,
                 uids: UidRange | None = None):
        self.root = root
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(root, 0o700)
        # One name per provider root, so two stacks on one host never meet.
        name = "cerver-" + hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
        # What bubblewrap binds, as the sandbox's uid, must be reachable by
        # path: it lives outside the 0700 data folder, in a runtime folder
        # others may cross (0711) but not list; each workspace's root there
        # is 0700 and its own uid's.
        self.runtime = pathlib.Path(config.settings().sandbox_runtime_dir or f"/run/cerver/{name}")
        self.isolated = isolated
        self.limits = limits or Limits()
        self.maxima = maxima or limits_mod.maxima()
        self.identities = Identities(uids or UidRange.from_env())
        self.workspaces = Workspaces(root / "workspaces", self.identities if isolated else None,
                                     mounts=self.runtime / "ws")
        self.cgroups = cgroups.detect(name) if isolated else None
        self.egress = egress.EgressFilter(self.identities.range) if isolated else None
        self._egress_watch: asyncio.Task | None = None
        self.output_cap = output_cap
        self.agent_config = {"output_cap": output_cap}
        self.sandboxes: dict[str, LocalSandbox] = {}
        self._seccomp: bytes | None = None
        self._etc = self._sandbox_etc() if isolated else self.runtime / "etc"
        self._warm_target = warm if isolated else 0
        self._warm: list[LocalSandbox] = []
        self._refill: asyncio.Task | None = None
        self._started = False

    @classmethod
    async def from_env(cls, root: pathlib.Path) -> "LocalProvider":
        """Isolated, or refuse to start naming what is missing, unless told,
        loudly, to run sandboxes unisolated (CERVER_ALLOW_UNISOLATED=1)."""
        settings = dict(limits=limits_mod.defaults(), maxima=limits_mod.maxima(),
                        output_cap=config.settings().sandbox_output_bytes,
                        warm=config.settings().sandbox_warm)
        provider = cls(root, isolated=True, **settings)
        problems = probe_problems(provider)
        if not problems:
            problems = await provider.probe_sandbox()
        if not problems:
            return provider
        await provider.close()
        why = "sandboxes cannot be isolated on this host; missing: " + "; ".join(problems)
        if not config.settings().allow_unisolated:
            raise IsolationUnavailable(f"{why}. Set CERVER_ALLOW_UNISOLATED=1 to run them WITHOUT isolation.")
        log.warning("!!! %s: sandboxes run UNISOLATED, with this user's rights and view of the host !!!", why)
        return cls(root, isolated=False, **settings)

    @property
    def warm_count(self) -> int:
        """Sandboxes started ahead, waiting for a create."""
        return len(self._warm)

    async def probe_sandbox(self) -> list[str]:
        """Start one real sandbox, exactly as every other is started, and
        check from inside what it must see."""
        self.workspaces.start()
        self.cgroups.prepare()
        box = _ProbeBox()
        try:
            await self.create(box, Limits(pids=32, memory_mb=64, disk_mb=16, tmp_mb=8), new_id())
            out = []
            async for event in self.run(box, "shell", "id -u; grep ^NoNewPrivs /proc/self/status", "", {}, 20):
                out.append(event.data if event.type == "stdout" else "")
            seen = "".join(out).split()
            if seen != [str(SANDBOX_UID), "NoNewPrivs:", "1"]:
                return [f"a sandbox that runs as its own user with no_new_privs (saw {' '.join(seen)[:200]!r})"]
            return []
        except (SandboxGone, SandboxRefused, WorkspaceError, cgroups.CgroupError, OSError) as exc:
            return [f"a working sandbox: starting one failed ({exc})"]
        finally:
            await self.delete(box, keep_workspace=False)

    def seccomp_filter(self) -> bytes:
        if self._seccomp is None:
            self._seccomp = seccomp.filter_bpf()
        return self._seccomp

    def _sandbox_etc(self) -> pathlib.Path:
        """A passwd/group naming only the sandbox user, instead of the
        host's, and the agent, where a sandbox's uid can bind them."""
        etc = self.runtime / "etc"
        etc.mkdir(parents=True, exist_ok=True)
        for folder in (self.runtime.parent, self.runtime, etc):
            os.chmod(folder, 0o711)
        files = {"passwd": f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:/workspace:/bin/sh\n"
                           "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
                 "group": f"sandbox:x:{SANDBOX_UID}:\nnogroup:x:65534:\n",
                 "resolv.conf": f"nameserver {SLIRP_DNS}\n", "agent.py": AGENT.read_text()}
        for name, text in files.items():
            (etc / name).write_text(text)
            os.chmod(etc / name, 0o644)
        return etc

    def bwrap_argv(self, workspace: pathlib.Path, command: list[str], limits: Limits, seccomp_fd: int = -1,
                   info_fd: int = -1, block_fd: int = -1) -> list[str]:
        """bubblewrap around `command` with a sandbox's namespaces and mounts.
        With block_fd, the sandbox waits, before running `command`, until
        something is written there (slirp4netns is attached)."""
        etc = self._etc
        args = ["bwrap", "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--unshare-net", "--disable-userns", "--as-pid-1", "--die-with-parent", "--new-session",
                "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "sandbox"]
        if info_fd >= 0:
            args += ["--info-fd", str(info_fd)]
        if block_fd >= 0:
            args += ["--block-fd", str(block_fd)]
        # slirp4netns's resolver, for when the sandbox has network (from the
        # start, or for a package install).
        args += ["--ro-bind", str(etc / "resolv.conf"), "/etc/resolv.conf"]
        if seccomp_fd >= 0:
            args += ["--seccomp", str(seccomp_fd)]
        args += ["--ro-bind", "/usr", "/usr"]
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            path = pathlib.Path("/") / name
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                args += ["--ro-bind", str(path), str(path)]
        for name in ETC_SHARED:
            args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        args += ["--ro-bind", str(etc / "passwd"), "/etc/passwd", "--ro-bind", str(etc / "group"), "/etc/group",
                 "--proc", "/proc", "--dev", "/dev", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
                 "--bind", str(workspace), "/workspace", "--ro-bind", str(etc / "agent.py"), "/opt/cerver/agent.py",
                 "--chdir", "/workspace", "--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", *command]
        return args

    def launch_argv(self, workspace: pathlib.Path, uid: int, procs: list[str], command: list[str], limits: Limits,
                    **fds: int) -> list[str]:
        """The launcher: join the sandbox's cgroups, become its host uid with
        no capabilities and no_new_privs, exec bubblewrap."""
        return ["/bin/sh", "-c", LAUNCHER, "launcher", *procs, "--",
                "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
                "--inh-caps=-all", "--bounding-set=-all",
                *self.bwrap_argv(workspace, command, limits, **fds)]

    async def _spawn(self, workspace_id: str, limits: Limits, network: bool, new: bool) -> LocalSandbox:
        if not self.isolated:
            workspace, _ = await (self.workspaces.create(workspace_id, limits.disk_mb) if new
                                  else self.workspaces.attach(workspace_id))
            argv = [SYSTEM_PYTHON, "-I", "-S", str(AGENT), json.dumps({**self.agent_config, "workspace": str(workspace)})]
            proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
                                                        env={"PATH": "/usr/bin:/bin"}, limit=LINE_LIMIT)
            sandbox = LocalSandbox(proc, workspace_id, limits, self.output_cap)
            await self._await_ready(sandbox)
            return sandbox
        if network:
            await self._can_give_network()
        try:
            workspace, uid = await (self.workspaces.create(workspace_id, limits.disk_mb) if new
                                    else self.workspaces.attach(workspace_id))
            procs = self.cgroups.create(workspace_id, limits)
        except (WorkspaceError, cgroups.CgroupError, OSError):
            # The details name host paths: they go to the log, not the caller.
            log.exception("setting up sandbox %s failed", workspace_id)
            await self._discard(workspace_id, keep_workspace=not new)
            raise SandboxGone("the sandbox could not be set up on this host") from None
        info_r, info_w = os.pipe()
        filter_r, filter_w = os.pipe()
        block_r, block_w = os.pipe() if network else (-1, -1)
        ours, theirs = [info_r, block_w], [info_w, filter_r, block_r]
        try:
            os.write(filter_w, self.seccomp_filter())  # a few hundred bytes: fits the pipe
            os.close(filter_w)
            argv = self.launch_argv(workspace, uid, procs, [SYSTEM_PYTHON, "-I", "-S", "/opt/cerver/agent.py",
                                                            json.dumps(self.agent_config)], limits,
                                    seccomp_fd=filter_r, info_fd=info_w, block_fd=block_r)
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                env={}, limit=LINE_LIMIT, pass_fds=[fd for fd in theirs if fd >= 0])
        except BaseException:
            for fd in ours:
                if fd >= 0:
                    os.close(fd)
            await self._discard(workspace_id, keep_workspace=not new)
            raise
        finally:
            for fd in theirs:
                if fd >= 0:
                    os.close(fd)
        sandbox = LocalSandbox(proc, workspace_id, limits, self.output_cap)
        sandbox.uid = uid
        try:
            # bwrap writes its --info-fd JSON in parts and the blocked child may
            # hold the fd open, so read up to the closing brace, not to EOF.
            info = json.loads(await _read_pipe(info_r, b"\n}", timeout=30) or b"{}")
            sandbox.child_pid = info.get("child-pid", 0)
            if not sandbox.child_pid:
                raise SandboxGone("bwrap did not start the sandbox")
            if cgroups.may_protect():
                # Exempt from the OOM killer (and from memory.oom.group), so
                # that an OOM ends the runs, never the sandbox.
                pathlib.Path(f"/proc/{sandbox.child_pid}/oom_score_adj").write_text("-1000")
            if network:
                await self._attach_network(sandbox)
                os.write(block_w, b"1")  # the sandbox may go on now
            await self._await_ready(sandbox)
            sandbox.drain_stderr()
        except (SandboxGone, OSError, ValueError, asyncio.TimeoutError) as exc:
            await sandbox.stop()
            said = b""
            with contextlib.suppress(asyncio.TimeoutError, OSError, ValueError):
                said = await asyncio.wait_for(proc.stderr.read(2000), 1)
            log.warning("sandbox %s did not start: %s %s", workspace_id, exc or type(exc).__name__,
                        said.decode(errors="replace").strip())
            await self._discard(workspace_id, keep_workspace=not new)
            raise SandboxGone("the sandbox did not start") from None
        finally:
            if block_w >= 0:
                os.close(block_w)
        return sandbox

    @staticmethod
    async def _await_ready(sandbox: LocalSandbox) -> None:
        try:
            await asyncio.wait_for(sandbox.ready, timeout=30)
        except (asyncio.TimeoutError, SandboxGone) as exc:
            await sandbox.stop()
            raise SandboxGone(f"the sandbox did not start: {exc or type(exc).__name__}") from None

    async def _discard(self, workspace_id: str, keep_workspace: bool) -> None:
        if self.cgroups is not None:
            await asyncio.to_thread(self.cgroups.remove, workspace_id)
        with contextlib.suppress(WorkspaceError, OSError, ValueError):
            if keep_workspace:
                await self.workspaces.detach(workspace_id)
            else:
                await self.workspaces.delete(workspace_id)

    async def _can_give_network(self) -> None:
        """Before a sandbox gets network: slirp4netns is here, and the egress
        filter is in place as the settings say now."""
        if shutil.which("slirp4netns") is None:
            raise SandboxGone("sandboxes with network need slirp4netns (apt-get install slirp4netns)")
        try:
            await asyncio.to_thread(self.egress.ensure)
        except EgressUnavailable as exc:
            raise SandboxGone(f"sandboxes with network need their egress filter: {exc}") from None

    async def _watch_egress(self) -> None:
        """The egress filter, written at start; then, while sandboxes have
        network, put back soon after the host's firewall loses it (a reload
        drops it): until then their traffic is not filtered. A failure is said
        here and again to each caller asking for network."""
        first = True
        while True:
            if first or any(s.network is not None for s in self.sandboxes.values()):
                try:
                    await asyncio.to_thread(self.egress.ensure)
                except EgressUnavailable as exc:
                    log.error("sandboxes with network are refused on this node: %s", exc)
            first = False
            await asyncio.sleep(egress.WATCH_INTERVAL_S)

    async def _attach_network(self, sandbox: LocalSandbox) -> None:
        """slirp4netns on the sandbox's network namespace, host loopback off,
        with the sandbox's gid: the egress filter matches its traffic by it."""
        # bwrap brings up the namespace's loopback itself, and so does
        # slirp4netns --configure: at once, one of them fails (about one
        # start in ten under load). Wait for bwrap's to be there.
        fib = pathlib.Path(f"/proc/{sandbox.child_pid}/net/fib_trie")
        deadline = time.monotonic() + 10
        while "127.0.0.1" not in fib.read_text():
            if time.monotonic() > deadline:
                raise SandboxGone("the sandbox's loopback did not come up")
            await asyncio.sleep(0.001)
        ready_r, ready_w = os.pipe()
        try:
            # It parses the sandbox's packets as root: once set up it drops its
            # capabilities, leaves the host's filesystem and filters its own
            # syscalls (--enable-sandbox, --enable-seccomp). It dies with this
            # process, as the sandbox does (--pdeathsig).
            slirp = await asyncio.create_subprocess_exec(
                "setpriv", f"--regid={sandbox.uid}", "--clear-groups", "--pdeathsig=KILL",
                "slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox",
                "--enable-seccomp", "--ready-fd", str(ready_w), "--netns-type=path",
                f"/proc/{sandbox.child_pid}/ns/net", "tap0", pass_fds=(ready_w,),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        finally:
            os.close(ready_w)
        sandbox.network = slirp
        if await _read_pipe(ready_r, None, timeout=30) != b"1":
            raise SandboxGone(f"slirp4netns could not give the sandbox network (exit {await slirp.wait()})")

    # A couple of sandboxes with the default limits and no network are kept
    # started with fresh, empty workspaces, so provisioning one is a
    # hand-over, not a start-up.
    def _ensure_warm(self) -> None:
        if self._started and self._warm_target and (self._refill is None or self._refill.done()):
            self._refill = asyncio.create_task(self._fill_warm())

    async def _fill_warm(self) -> None:
        while len(self._warm) < self._warm_target:
            try:
                sandbox = await self._spawn(new_id(), self.limits, network=False, new=True)
            except SandboxGone:
                log.exception("could not start a warm sandbox")
                return
            self._warm.append(sandbox)

    async def start(self) -> None:
        """Clear what an earlier run of this process left (its sandboxes are
        gone), then keep the warm pool filled."""
        self.workspaces.start()
        if self.cgroups is not None:
            self.cgroups.prepare()
        if self.egress is not None:
            self._egress_watch = asyncio.create_task(self._watch_egress())
        self._started = True
        self._ensure_warm()

    async def create(self, box: SandboxRecord, limits: Limits | None = None, workspace_id: str = "") -> str:
        """Start a sandbox; returns its workspace id (new unless box names a
        kept one to re-attach)."""
        limits = limits or self.limits
        if box.workspace_id:
            try:
                checked(self.workspaces.root, box.workspace_id)
            except ValueError as exc:
                raise SandboxRefused(str(exc)) from None
            sandbox = await self._spawn(box.workspace_id, limits, box.network, new=False)
        else:
            sandbox = None
            while self._warm and not box.network and limits == self.limits:
                candidate = self._warm.pop()
                if candidate.proc.returncode is None:
                    sandbox = candidate
                    break
            if sandbox is None:
                sandbox = await self._spawn(workspace_id or new_id(), limits, box.network, new=True)
        self.sandboxes[box.sandbox_id] = sandbox
        self._ensure_warm()
        return sandbox.workspace_id

    async def connect_inside(self, box: SandboxRecord, port: int) -> socket.socket:
        """A connection to 127.0.0.1:port in the sandbox's own network."""
        sandbox = self._get(box.sandbox_id)
        if not self.isolated or not sandbox.child_pid:
            # Unisolated, its 127.0.0.1 would be the host's.
            raise SandboxRefused("previews need isolated sandboxes (a network of their own)")
        return await netns.connect(sandbox.child_pid, port)

    def _get(self, sandbox_id: str) -> LocalSandbox:
        sandbox = self.sandboxes.get(sandbox_id)
        if sandbox is None:
            raise SandboxGone(f"sandbox {sandbox_id} is not running on this host")
        return sandbox

    async def run(self, box: SandboxRecord, runtime: str, code: str, stdin: str, env: dict[str, str],
                  timeout: float) -> AsyncIterator[RunEvent]:
        sandbox = self._get(box.sandbox_id)
        argv = [*RUNTIME_ARGV[runtime or "shell"], code]
        meaning = {}
        if not runtime and box.runtime != "shell":
            # The agent decides, by the rule of what code means: a command
            # line, or source in the sandbox's language (node when it names none).
            meaning = {"source": [*RUNTIME_ARGV[box.runtime or "node"], code], "shell_words": not box.runtime}
        sent = {"stdout": 0, "stderr": 0}
        truncated = False
        async for msg in sandbox.request("run", deadline=timeout + HOST_GRACE_S, argv=argv, stdin=stdin, env=env,
                                         timeout=timeout, **meaning):
            kind = msg["type"]
            if kind in sent:
                # The agent caps output (and says so past the cap); the host
                # holds the line, with room for that note, in case it does not.
                data = msg.get("data", "")
                room = sandbox.cap + CAP_NOTE_ROOM - sent[kind]
                if len(data) > room:
                    data = data[:max(room, 0)] + ("" if truncated else f"\n[output truncated: {kind} is capped]\n")
                    truncated = True
                sent[kind] += len(data)
                if data:
                    yield RunEvent(type=kind, data=data)
                continue
            event = RunEvent(type=kind, exit_code=msg.get("exit_code", 0), timed_out=msg.get("timed_out", False),
                             truncated=msg.get("truncated", False) or truncated,
                             duration_ms=msg.get("duration_ms", 0.0))
            if kind == "exit":
                if event.timed_out:
                    event.reason = "timeout"
                elif self.cgroups and sandbox.saw_oom(self.cgroups.oom_kills(sandbox.workspace_id)):
                    # The kernel killed processes of the sandbox while this ran.
                    event.reason = "oom"
                    yield RunEvent(type="stderr", data=f"[killed: the sandbox ran out of memory "
                                                       f"(limit {sandbox.limits.memory_mb} MiB, /tmp included)]\n")
            yield event

    async def install(self, box: SandboxRecord, manager: str, packages: list[str], env: dict[str, str],
                      timeout: float) -> AsyncIterator[RunEvent]:
        """A package install, with network for the install's time where the
        sandbox has none (meanwhile its other runs have it too)."""
        sandbox = self._get(box.sandbox_id)
        temporary = sandbox.network is None
        if temporary:
            await self._can_give_network()
            await self._attach_network(sandbox)
        try:
            async for event in self.run(box, "shell", install_command(manager, packages), "", env, timeout):
                yield event
        finally:
            if temporary and sandbox.network is not None:
                sandbox.network.kill()  # its tap device, and the namespace's route out, go with it
                await sandbox.network.wait()
                sandbox.network = None

    async def run_cell(self, box: SandboxRecord, code: str, timeout: float) -> Cell:
        """A cell in the sandbox's persistent Python context. What the agent
        sends is held to its shapes and to the sandbox's output cap."""
        sandbox = self._get(box.sandbox_id)
        cell = Cell()
        room = sandbox.cap + CAP_NOTE_ROOM
        async for msg in sandbox.request("cell", deadline=timeout + KERNEL_START_S, code=code, timeout=timeout):
            kind = msg.get("type")
            if kind in ("stdout", "stderr"):
                data = str(msg.get("data", ""))
                texts = cell.stdout if kind == "stdout" else cell.stderr
                used = sum(map(len, cell.stdout)) + sum(map(len, cell.stderr))
                if used + len(data) > room:
                    data, cell.truncated = data[:max(0, room - used)], True
                texts.append(data)
            elif kind == "cell":
                cell.error_name = str(msg.get("error_name", ""))[:200]
                cell.error_value = str(msg.get("error_value", ""))[:room]
                cell.traceback = [str(line)[:room] for line in list(msg.get("traceback") or [])[:200]]
                for item in list(msg.get("results") or [])[:100]:
                    data = item.get("data") if isinstance(item, dict) else None
                    if isinstance(data, dict):
                        cell.results.append(({str(k)[:100]: str(v) for k, v in list(data.items())[:20]},
                                             bool(item.get("is_main_result"))))
                if sum(len(v) for data, _ in cell.results for v in data.values()) > room:
                    cell.results, cell.truncated = [], True
                cell.timed_out = bool(msg.get("timed_out"))
                cell.truncated = cell.truncated or bool(msg.get("truncated"))
                cell.context_restarted = bool(msg.get("context_restarted"))
                cell.duration_ms = float(msg.get("duration_ms") or 0)
        return cell

    async def restart_context(self, box: SandboxRecord) -> None:
        async for _ in self._get(box.sandbox_id).request("restart_context", deadline=KERNEL_START_S):
            return

    async def file_call(self, box: SandboxRecord, op: str, path: str) -> dict:
        """list_files, file_exists or delete_file, answered by the agent."""
        async for msg in self._get(box.sandbox_id).request(op, deadline=120, path=path):
            return msg
        raise SandboxGone("no reply")

    async def write_file(self, box: SandboxRecord, path: str, data: bytes, offset: int = 0) -> int:
        async for msg in self._get(box.sandbox_id).request("write_file", deadline=120, path=path, offset=offset,
                                                           data=base64.b64encode(data).decode()):
            return int(msg["size"])
        raise SandboxGone("no reply")

    async def read_file(self, box: SandboxRecord, path: str, offset: int = 0, length: int = 0) -> bytes:
        async for msg in self._get(box.sandbox_id).request("read_file", deadline=120, path=path, offset=offset,
                                                           length=length, max_bytes=config.MAX_FILE_BYTES):
            return base64.b64decode(msg["data"])
        raise SandboxGone("no reply")

    async def move_file(self, box: SandboxRecord, path: str, to: str) -> int:
        async for msg in self._get(box.sandbox_id).request("move_file", deadline=120, path=path, to=to):
            return int(msg["size"])
        raise SandboxGone("no reply")

    async def delete(self, box: SandboxRecord, keep_workspace: bool) -> None:
        sandbox = self.sandboxes.pop(box.sandbox_id, None)
        if sandbox is not None:
            await self._stop(sandbox, keep_workspace)
        elif box.workspace_id:
            await self._discard(box.workspace_id, keep_workspace)

    async def _stop(self, sandbox: LocalSandbox, keep_workspace: bool) -> None:
        await sandbox.stop()
        await self._discard(sandbox.workspace_id, keep_workspace)

    async def close(self) -> None:
        # Let a warm sandbox being started finish: cancelled halfway, its
        # workspace and cgroups would be left behind.
        self._warm_target = 0
        if self._egress_watch is not None:
            self._egress_watch.cancel()
            await asyncio.gather(self._egress_watch, return_exceptions=True)
        if self._refill is not None:
            await asyncio.gather(self._refill, return_exceptions=True)
        # All at once: a stop within a supervisor's grace period, however many sandboxes.
        await asyncio.gather(*(self._stop(sandbox, keep_workspace=False) for sandbox in self._warm),
                             *(self._stop(sandbox, keep_workspace=True) for sandbox in self.sandboxes.values()))
        self._warm.clear()
        self.sandboxes.clear()
        if self.cgroups is not None:
            self.cgroups.release()
        self.workspaces.tidy()
        if self.isolated:
            # Only what this provider made; rmdir, never rmtree, near mounts.
            for name in ("passwd", "group", "resolv.conf", "agent.py"):
                (self._etc / name).unlink(missing_ok=True)
            for folder in (self._etc, self.workspaces.mounts, self.runtime):
                with contextlib.suppress(OSError):
                    folder.rmdir()


class _ProbeBox:
    sandbox_id = "sbx_probe"
    compute_id = ""
    workspace_id = ""
    network = False
    preview = False
