"""The `local` provider: sandboxes on this host, isolated with bubblewrap.

Each sandbox is one long-lived bubblewrap process (own user, PID, IPC, UTS
and, unless asked otherwise, network namespaces) running sandbox_agent.py,
which starts each run's command on request: a run costs one fork+exec inside
namespaces that already exist. The workspace is the only writable place that
persists; other workspaces, the host's environment and Cerver's data are not
mounted at all.
"""
import asyncio
import base64
import contextlib
import itertools
import json
import logging
import os
import pathlib
import shutil
import signal
from collections.abc import AsyncIterator

from servicekit import config
from services.compute.adapters.base import RUNTIME_ARGV, RunEvent, SandboxGone, SandboxRecord, SandboxRefused

log = logging.getLogger("cerver.compute.local")
AGENT = pathlib.Path(__file__).resolve().parent.parent / "sandbox_agent.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # the sandbox's own interpreter, not Cerver's venv
SANDBOX_UID = 1000
ETC_SHARED = ("hosts", "nsswitch.conf", "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives",
              "ssl", "ca-certificates", "localtime", "mime.types")
# Sandboxes that ask for network get it through slirp4netns in their own
# network namespace: outbound traffic is NATed in user space, and the host's
# loopback (Cerver's own services, a local database) stays out of reach.
SLIRP_DNS = "10.0.2.3"


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


def bwrap_usable() -> tuple[bool, str]:
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False, "bubblewrap (bwrap) is not installed"
    import subprocess

    probe = subprocess.run([bwrap, "--unshare-all", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
                            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                            "/bin/true"], capture_output=True, text=True, timeout=20)
    if probe.returncode != 0:
        return False, f"bubblewrap cannot create namespaces here: {probe.stderr.strip()}"
    return True, ""


class LocalSandbox:
    """The host's end of one sandbox agent."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Queue] = {}
        self._write_lock = asyncio.Lock()
        self._reader = asyncio.create_task(self._read())
        self.ready = asyncio.get_running_loop().create_future()
        self.network: asyncio.subprocess.Process | None = None  # slirp4netns, when it has network
        self.child_pid = 0  # bwrap's child, the sandbox's pid 1, when bwrap reported it

    async def _read(self) -> None:
        try:
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    break
                msg = json.loads(line)
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

    async def request(self, op: str, **fields) -> AsyncIterator[dict]:
        """Send one request; yield its replies until the last one."""
        if self.proc.returncode is not None or self._reader.done():
            raise SandboxGone("the sandbox is no longer running")
        rid = next(self._ids)
        queue: asyncio.Queue = asyncio.Queue()
        self._pending[rid] = queue
        finished = False
        try:
            await self._send({"id": rid, "op": op, **fields})
            while True:
                msg = await queue.get()
                kind = msg["type"]
                if kind == "gone":
                    raise SandboxGone("the sandbox stopped while serving the request")
                if kind == "error":
                    finished = True
                    raise SandboxRefused(msg.get("message", "refused"), not_found=msg.get("kind") == "not_found")
                finished = kind in ("exit", "file")
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

    async def _send(self, message: dict) -> None:
        async with self._write_lock:
            try:
                self.proc.stdin.write(json.dumps(message).encode() + b"\n")
                await self.proc.stdin.drain()
            except (BrokenPipeError, ConnectionResetError) as exc:
                raise SandboxGone("the sandbox is no longer running") from exc

    async def stop(self) -> None:
        if self.child_pid and self.proc.returncode is None:
            # A child still blocked before its exec has no parent-death signal
            # yet; killing the namespace's pid 1 takes everything in it.
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child_pid, signal.SIGKILL)
        if self.proc.returncode is None:
            self.proc.kill()  # bwrap --die-with-parent/--unshare-pid: the whole tree goes
            await self.proc.wait()
        if self.network is not None and self.network.returncode is None:
            self.network.kill()
            await self.network.wait()
        self._reader.cancel()


class LocalProvider:
    provider = "local"

    def __init__(self, root: pathlib.Path, isolated: bool = True, memory_mb: int = 4096, max_procs: int = 4096,
                 output_cap: int = 1 << 20, warm: int = 2):
        self.root = root
        self.workspaces = root / "workspaces"
        self.workspaces.mkdir(parents=True, exist_ok=True)
        self.isolated = isolated
        self.agent_config = {"memory_bytes": memory_mb << 20, "max_procs": max_procs,
                             "max_file_bytes": 1 << 30, "output_cap": output_cap}
        self.sandboxes: dict[str, LocalSandbox] = {}
        self._etc = self._sandbox_etc()
        self._warm_target = warm if isolated else 0
        self._warm: list[tuple[str, LocalSandbox]] = []
        self._refill: asyncio.Task | None = None

    @classmethod
    def from_env(cls, root: pathlib.Path) -> "LocalProvider":
        """Isolated with bubblewrap, or refuse to start unless told, loudly,
        to run sandboxes unisolated (CERVER_ALLOW_UNISOLATED=1)."""
        usable, why = bwrap_usable()
        if not usable:
            if not config.env_bool("CERVER_ALLOW_UNISOLATED"):
                raise IsolationUnavailable(
                    f"{why}. Sandboxes need bubblewrap (apt-get install bubblewrap). "
                    "Set CERVER_ALLOW_UNISOLATED=1 to run them WITHOUT isolation.")
            log.warning("!!! %s: sandboxes run UNISOLATED, with this user's rights and view of the host !!!", why)
        return cls(root, isolated=usable, memory_mb=int(config.env("CERVER_SANDBOX_MEMORY_MB", "4096")),
                   output_cap=int(config.env("CERVER_SANDBOX_OUTPUT_BYTES", str(1 << 20))),
                   warm=int(config.env("CERVER_SANDBOX_WARM", "2")))

    def _sandbox_etc(self) -> pathlib.Path:
        """A passwd/group naming only the sandbox user, instead of the host's."""
        etc = self.root / "sandbox-etc"
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "passwd").write_text(f"sandbox:x:{SANDBOX_UID}:{SANDBOX_UID}:sandbox:/workspace:/bin/sh\n"
                                    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
        (etc / "group").write_text(f"sandbox:x:{SANDBOX_UID}:\nnogroup:x:65534:\n")
        (etc / "resolv.conf").write_text(f"nameserver {SLIRP_DNS}\n")
        return etc

    def _argv(self, workspace: pathlib.Path, network_fds: tuple[int, int] | None) -> list[str]:
        if not self.isolated:
            return [SYSTEM_PYTHON, "-I", "-S", str(AGENT), json.dumps({**self.agent_config, "workspace": str(workspace)})]
        return self.bwrap_argv(workspace, [SYSTEM_PYTHON, "-I", "-S", "/opt/cerver/agent.py",
                                           json.dumps(self.agent_config)], network_fds)

    def bwrap_argv(self, workspace: pathlib.Path, command: list[str],
                   network_fds: tuple[int, int] | None = None) -> list[str]:
        """bubblewrap around `command` with a sandbox's namespaces and mounts.
        With network_fds (info, block), bwrap reports its child's pid and
        waits, before running `command`, until slirp4netns is attached."""
        args = ["bwrap", "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--unshare-net", "--die-with-parent", "--new-session", "--uid", str(SANDBOX_UID),
                "--gid", str(SANDBOX_UID), "--hostname", "sandbox"]
        if network_fds is not None:
            args += ["--info-fd", str(network_fds[0]), "--block-fd", str(network_fds[1]),
                     "--ro-bind", str(self._etc / "resolv.conf"), "/etc/resolv.conf"]
        args += ["--ro-bind", "/usr", "/usr"]
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            path = pathlib.Path("/") / name
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                args += ["--ro-bind", str(path), str(path)]
        for name in ETC_SHARED:
            args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        args += ["--ro-bind", str(self._etc / "passwd"), "/etc/passwd",
                 "--ro-bind", str(self._etc / "group"), "/etc/group",
                 "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
                 "--bind", str(workspace), "/workspace", "--ro-bind", str(AGENT), "/opt/cerver/agent.py",
                 "--chdir", "/workspace", "--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin", *command]
        return args

    async def _spawn(self, workspace: pathlib.Path, network: bool) -> LocalSandbox:
        workspace.mkdir(parents=True, exist_ok=True)
        networked = network and self.isolated
        if networked and shutil.which("slirp4netns") is None:
            raise SandboxGone("sandboxes with network need slirp4netns (apt-get install slirp4netns)")
        info_r, info_w = os.pipe() if networked else (-1, -1)
        block_r, block_w = os.pipe() if networked else (-1, -1)
        try:
            proc = await asyncio.create_subprocess_exec(
                *self._argv(workspace, (info_w, block_r) if networked else None), stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"},
                limit=64 << 20, pass_fds=(info_w, block_r) if networked else ())
        except BaseException:
            for fd in (info_r, block_w):
                if fd >= 0:
                    os.close(fd)
            raise
        finally:
            for fd in (info_w, block_r):
                if fd >= 0:
                    os.close(fd)
        sandbox = LocalSandbox(proc)
        try:
            if networked:
                await self._attach_network(sandbox, info_r)
                os.write(block_w, b"1")  # the sandbox may go on now
            await asyncio.wait_for(sandbox.ready, timeout=30)
        except (asyncio.TimeoutError, SandboxGone, OSError, ValueError) as exc:
            await sandbox.stop()
            raise SandboxGone(f"the sandbox did not start: {exc or type(exc).__name__}") from exc
        finally:
            if networked:
                os.close(block_w)
        return sandbox

    async def _attach_network(self, sandbox: LocalSandbox, info_r: int) -> None:
        """slirp4netns on the sandbox's network namespace, host loopback off.
        Takes ownership of info_r."""
        # bwrap writes its --info-fd JSON in parts and the blocked child may
        # hold the fd open, so read up to the closing brace, not to EOF.
        info = json.loads(await _read_pipe(info_r, b"\n}", timeout=30))
        sandbox.child_pid = info["child-pid"]
        namespace = ["--netns-type=path", f"/proc/{sandbox.child_pid}/ns/net"]
        if os.geteuid() != 0:  # without root, only the sandbox's own user namespace may enter its network one
            namespace.append(f"--userns-path=/proc/{sandbox.child_pid}/ns/user")
        ready_r, ready_w = os.pipe()
        try:
            slirp = await asyncio.create_subprocess_exec(
                "slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback", "--ready-fd", str(ready_w),
                *namespace, "tap0", pass_fds=(ready_w,), stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL)
        finally:
            os.close(ready_w)
        sandbox.network = slirp
        if await _read_pipe(ready_r, None, timeout=30) != b"1":
            raise SandboxGone(f"slirp4netns could not give the sandbox network (exit {await slirp.wait()})")

    # A couple of sandboxes without network are kept started with fresh,
    # empty workspaces, so provisioning one is a hand-over, not a start-up.
    def _ensure_warm(self) -> None:
        if self._warm_target and (self._refill is None or self._refill.done()):
            self._refill = asyncio.create_task(self._fill_warm())

    async def _fill_warm(self) -> None:
        while len(self._warm) < self._warm_target:
            workspace_id = "ws_" + os.urandom(8).hex()
            try:
                sandbox = await self._spawn(self.workspaces / workspace_id, network=False)
            except SandboxGone:
                log.exception("could not start a warm sandbox")
                return
            self._warm.append((workspace_id, sandbox))

    async def start(self) -> None:
        self._ensure_warm()

    async def create(self, box: SandboxRecord) -> str:
        """Start a sandbox; returns its workspace id (new unless one was given)."""
        sandbox_id, workspace_id, network = box.sandbox_id, box.workspace_id, box.network
        if not workspace_id and not network and self._warm:
            workspace_id, sandbox = self._warm.pop()
            self._ensure_warm()
            if sandbox.proc.returncode is None:
                self.sandboxes[sandbox_id] = sandbox
                return workspace_id
        workspace_id = workspace_id or "ws_" + os.urandom(8).hex()
        self.sandboxes[sandbox_id] = await self._spawn(self.workspaces / workspace_id, network)
        self._ensure_warm()
        return workspace_id

    def _get(self, sandbox_id: str) -> LocalSandbox:
        sandbox = self.sandboxes.get(sandbox_id)
        if sandbox is None:
            raise SandboxGone(f"sandbox {sandbox_id} is not running on this host")
        return sandbox

    async def run(self, box: SandboxRecord, runtime: str, code: str, stdin: str, env: dict[str, str],
                  timeout: float) -> AsyncIterator[RunEvent]:
        sandbox = self._get(box.sandbox_id)
        argv = [*RUNTIME_ARGV[runtime], code]
        async for msg in sandbox.request("run", argv=argv, stdin=stdin, env=env, timeout=timeout):
            yield RunEvent(type=msg["type"], data=msg.get("data", ""), exit_code=msg.get("exit_code", 0),
                           timed_out=msg.get("timed_out", False), truncated=msg.get("truncated", False),
                           duration_ms=msg.get("duration_ms", 0.0))

    async def write_file(self, box: SandboxRecord, path: str, data: bytes) -> int:
        async for msg in self._get(box.sandbox_id).request("write_file", path=path, data=base64.b64encode(data).decode()):
            return msg["size"]
        raise SandboxGone("no reply")

    async def read_file(self, box: SandboxRecord, path: str) -> bytes:
        async for msg in self._get(box.sandbox_id).request("read_file", path=path):
            return base64.b64decode(msg["data"])
        raise SandboxGone("no reply")

    async def delete(self, box: SandboxRecord, keep_workspace: bool) -> None:
        sandbox = self.sandboxes.pop(box.sandbox_id, None)
        if sandbox is not None:
            await sandbox.stop()
        if not keep_workspace and box.workspace_id:
            await asyncio.to_thread(shutil.rmtree, self.workspaces / box.workspace_id, True)

    async def close(self) -> None:
        if self._refill is not None:
            self._refill.cancel()
        for workspace_id, sandbox in self._warm:
            await sandbox.stop()
            shutil.rmtree(self.workspaces / workspace_id, ignore_errors=True)
        self._warm.clear()
        for sandbox in list(self.sandboxes.values()):
            await sandbox.stop()
        self.sandboxes.clear()
