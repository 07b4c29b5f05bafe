"""Runs inside a sandbox (under bubblewrap), started once per sandbox, so a
run costs one posix_spawn inside namespaces that already exist.

It is the sandbox's pid 1, so the code it runs cannot signal it (the kernel
drops signals to a namespace's init that it has no handler for), and it makes
itself non-dumpable, so that code cannot open its /proc files or its pipes to
the host: the channel cannot be forged. Its file calls never follow a link
out of the workspace (Tree), and the Python context's kernel, its child,
holds none of its descriptors. Resource limits are the sandbox's
cgroups, outside; as pid 1 it also reaps the orphans of its runs.

Standard library only, and only its cheap modules (no asyncio, no
subprocess: their imports alone would double a cold start): it runs on the
host's system Python inside the sandbox, not in Cerver's virtualenv. Speaks
JSON lines on stdin/stdout: requests {"id", "op", ...}; replies
{"id", "type", ...}.

One thread serves every run with poll(): each run's output pipes, its exit
(a pidfd) and its stdin. A run costs no thread start and no hand-off between
threads, and the agent's threads never count against the sandbox's process
limit; runs stay concurrent and output streams back as it happens.
"""
import base64
import codecs
import errno
import json
import os
import resource
import select
import signal
import stat
import sys
import threading
import time

WORKSPACE = "/workspace"
CHUNK = 64 * 1024
OUTPUT_GRACE_S = 0.25  # how long output is drained after a run's main process exits
RUN_MARK = "CERVER_RUN_ID"  # in every run's environment, to find its processes
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": WORKSPACE, "LANG": "C.UTF-8", "TMPDIR": "/tmp"}
# Python ignores these; a run's commands get the defaults, as under a shell.
DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)

_out_lock = threading.Lock()  # file operations reply from threads of their own


def send(message: dict) -> None:
    data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
    with _out_lock:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


class OomScore:
    """Each run starts at oom_score_adj 1000, so that an OOM in the sandbox
    takes its runs first, not this agent (which stays at its own value: 0, or
    -1000 where the host may set that). Unprivileged code may raise its score
    and lower it back down to where it was: the agent does both around each
    spawn. The file is opened before the agent makes itself non-dumpable,
    which would close it to us."""
    RUN = b"1000"

    def __init__(self):
        try:
            self.fd = os.open("/proc/self/oom_score_adj", os.O_RDWR)
        except OSError:
            self.fd = -1

    def for_run(self) -> bytes:
        """Raise the score for a spawn; returns the agent's own, to restore."""
        if self.fd < 0:
            return b""
        try:
            own = os.pread(self.fd, 16, 0).strip()
            os.pwrite(self.fd, self.RUN, 0)
            return own
        except OSError:
            return b""

    def restore(self, own: bytes) -> None:
        if own:
            try:
                os.pwrite(self.fd, own, 0)
            except OSError:
                pass


def harden() -> None:
    """No core files; not dumpable (prctl PR_SET_DUMPABLE 0), so that code of
    the same uid can neither open /proc/1/fd/* nor read this process's memory."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    import ctypes  # only here: ~4 ms of a cold start, none of a run

    if ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")
    # As pid 1, signals from inside only arrive where a handler is installed:
    # install none but SIGCHLD's (below).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def kill_run(pid: int, run_id: str) -> None:
    """Kill a run's process group, then any process still carrying its mark
    (a grandchild that left the group with setsid), again until none is left
    (a fork bomb adds processes while the first ones die). On timeout and
    cancel; the sandbox's pids limit bounds how many there can be."""
    mark = f"{RUN_MARK}={run_id}".encode()
    for _ in range(50):
        found = False
        try:
            os.killpg(pid, signal.SIGKILL)
            found = True
        except (ProcessLookupError, PermissionError):
            pass
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if mark in f.read().split(b"\0"):
                        os.kill(int(entry), signal.SIGKILL)
                        found = True
            except (OSError, ProcessLookupError):
                continue
        if not found:
            return
        time.sleep(0.005)


def resolve(path: str) -> str:
    """A request's path as a path under the workspace ("." for itself)."""
    full = os.path.normpath(os.path.join(WORKSPACE, path))
    if full != WORKSPACE and not full.startswith(WORKSPACE + "/"):
        raise ValueError("path must stay inside the workspace")
    return full[len(WORKSPACE) + 1:] or "."


class Tree:
    """Opens what lies under a root folder without ever leaving it. File calls
    name paths in the workspace and must reach nothing else: not the
    sandbox's /etc or /proc (the agent's own /proc entries, its channel among
    them, are closed to it only because being non-dumpable makes them root's)
    nor, unisolated, the host's files. Each name is opened with O_NOFOLLOW
    under the descriptor of the folder before it, a link is read and followed
    here, `..` never climbs above the root, and a link out of it is refused,
    so a folder swapped for a link mid-call leads nowhere either. Absolute
    links into the root (`/workspace/...`, as the sandbox's code sees it) are
    followed as it would."""
    MAX_LINKS = 40  # as the kernel's own limit

    def __init__(self, root: str):
        self.path = root
        self.root = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def open(self, rel: str, flags: int, mode: int = 0o644) -> int:
        todo = [part for part in rel.split("/") if part not in ("", ".")]
        stack = [os.dup(self.root)]  # the folders walked through, the root first
        links = 0
        try:
            while todo:
                part = todo.pop(0)
                if part == "..":
                    if len(stack) > 1:
                        os.close(stack.pop())
                    continue
                step = flags if not todo else os.O_PATH | os.O_DIRECTORY
                try:
                    fd = os.open(part, step | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=stack[-1])
                except OSError as exc:
                    # A link in the way answers ELOOP (the last name) or ENOTDIR (a folder's).
                    if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                        raise OSError(exc.errno, exc.strerror, rel) from None
                    try:
                        target = os.readlink(part, dir_fd=stack[-1])
                    except OSError:
                        raise OSError(exc.errno, exc.strerror, rel) from None
                    links += 1
                    if links > self.MAX_LINKS:
                        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), rel) from None
                    if target.startswith("/"):
                        inside = os.path.normpath(target)
                        if inside != self.path and not inside.startswith(self.path + "/"):
                            raise ValueError(f"{rel}: a link out of the workspace ({target})") from None
                        for fd in stack[1:]:
                            os.close(fd)
                        del stack[1:]
                        target = inside[len(self.path):]
                    todo[:0] = [p for p in target.split("/") if p not in ("", ".")]
                    continue
                if not todo:
                    return fd
                stack.append(fd)
            return os.open(".", flags | os.O_CLOEXEC, mode, dir_fd=stack[-1])
        finally:
            for fd in stack:
                os.close(fd)

    def parent(self, rel: str, create: bool = False) -> tuple[int, str]:
        """An O_PATH descriptor of the folder holding rel (made first, with
        the folders above it, when create), and rel's last name."""
        head, name = os.path.split(rel)
        if create and head:
            parts, made = head.split("/"), ""
            for part in parts:
                above = self.open(made or ".", os.O_PATH | os.O_DIRECTORY)
                try:
                    os.mkdir(part, dir_fd=above)  # mkdirat never follows a link in its last name
                except FileExistsError:
                    pass
                finally:
                    os.close(above)
                made = os.path.join(made, part)
        return self.open(head or ".", os.O_PATH | os.O_DIRECTORY), name

    def regular(self, rel: str, flags: int) -> int:
        """A descriptor of a regular file: a FIFO or socket planted in the
        workspace would hold a file call (and its thread) forever."""
        fd = self.open(rel, flags | os.O_NONBLOCK)
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise ValueError(f"{rel} is not a regular file")
        os.set_blocking(fd, True)
        return fd


class Output:
    """One of a run's output pipes: decoded as UTF-8 and capped."""

    def __init__(self, name: str):
        self.name = name
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.sent = 0

    def text(self, data: bytes, cap: int) -> tuple[str, bool]:
        """What to send of `data`, and whether it was cut at the cap."""
        if self.sent >= cap:
            return "", True  # keep draining so the process never blocks
        if self.sent + len(data) <= cap:
            self.sent += len(data)
            return self.decoder.decode(data), False
        keep = data[:cap - self.sent]
        # End on a line boundary when one is near, not mid-line.
        nl = keep.rfind(b"\n")
        keep = keep[:nl + 1] if nl >= 0 and len(keep) - nl < 4096 else keep
        self.sent = cap
        return (self.decoder.decode(keep, final=True)
                + f"\n[output truncated: {self.name} is capped at {cap} bytes]\n"), True

    def tail(self, cap: int) -> str:
        return self.decoder.decode(b"", final=True) if self.sent < cap else ""


# What `code` means when a run names no runtime (README, "What code means"):
# a command line when its first word is a program on PATH, a path, an
# assignment or one of these builtins; in a sandbox whose runtime names no
# language, shell keywords, other builtins and grouping count too.
BUILTINS = {"cd", "export", "source", "."}
SHELL_WORDS = {"if", "for", "while", "until", "case", "function", "select", "time", "[[", "!", "{", "(", "exec",
               "eval", "set", "unset", "alias", "ulimit", "umask", "trap", "wait", "read", "readonly", "local",
               "exit", "return", "shift", "type", "command", "hash", "jobs", "kill", "test", "[", "printf", "echo",
               "true", "false", "pwd", "getopts", "builtin"}
WORD_END = " \t\n;&|<>()`"


def is_command(code: str, path: str, shell_words: bool) -> bool:
    code = code.lstrip()
    if code[:1] in ("(", "{", "!"):
        return shell_words
    end = next((i for i, c in enumerate(code) if c in WORD_END), len(code))
    word = code[:end]
    if not word:
        return shell_words
    name, eq, _ = word.partition("=")
    if eq and name and (name[0].isalpha() or name[0] == "_") and all(c.isalnum() or c == "_" for c in name):
        return True  # NAME=value: an assignment, or a command's environment
    if "/" in word or word in BUILTINS or (shell_words and word in SHELL_WORDS):
        return True
    return any(os.path.isfile(p) and os.access(p, os.X_OK)
               for p in (os.path.join(d, word) for d in path.split(":") if d))


class Run:
    """One command: its process, pipes and deadlines, driven by the Agent."""

    def __init__(self, agent: "Agent", rid, req: dict):
        self.agent, self.rid, self.req = agent, rid, req
        self.pid = 0
        self.status: int | None = None  # wait status, once the main process exited
        self.outputs: dict[int, Output] = {}
        self.stdin = memoryview(b"")  # what is left to write to the command
        self.stdin_fd = -1  # while there is stdin left to write
        self.deadline: float | None = None  # the run's timeout
        self.drain_until: float | None = None  # the output grace after its exit
        self.cancelled = self.timed_out = self.truncated = False
        self.started = time.monotonic()

    def start(self) -> bool:
        req = self.req
        env = {**BASE_ENV, **req.get("env", {}), RUN_MARK: str(self.rid)}
        self.stdin = memoryview(req.get("stdin", "").encode())
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        actions = [(os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
        in_r = in_w = -1
        if self.stdin:
            in_r, in_w = os.pipe()
            actions.append((os.POSIX_SPAWN_DUP2, in_r, 0))
        else:
            actions.append((os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0))
        argv = req["argv"]
        source = req.get("source")  # the code in the sandbox's language, unless it is a command line
        if source and not is_command(argv[-1], env.get("PATH", ""), bool(req.get("shell_words"))):
            argv = source
        own_score = self.agent.oom.for_run()
        try:
            # Its own process group: a timeout kills the whole tree.
            self.pid = os.posix_spawnp(argv[0], argv, env, file_actions=actions, setpgroup=0,
                                       setsigdef=DEFAULT_SIGNALS)
        except OSError as exc:
            for fd in (out_r, out_w, err_r, err_w, in_r, in_w):
                if fd >= 0:
                    os.close(fd)
            send({"id": self.rid, "type": "stderr", "data": f"cannot start {argv[0]}: {exc.strerror}\n"})
            send({"id": self.rid, "type": "exit", "exit_code": 127, "timed_out": False, "truncated": False,
                  "duration_ms": 0.0})
            return False
        finally:
            self.agent.oom.restore(own_score)
        self.agent.by_pid[self.pid] = self
        for fd in (out_w, err_w, in_r):
            if fd >= 0:
                os.close(fd)
        send({"id": self.rid, "type": "started"})
        self.agent.watch(os.pidfd_open(self.pid), self.on_exit)
        for fd, name in ((out_r, "stdout"), (err_r, "stderr")):
            self.outputs[fd] = Output(name)
            self.agent.watch(fd, self.on_output)
        if in_w >= 0:
            self.stdin_fd = in_w
            self.agent.watch(in_w, self.on_stdin, select.POLLOUT)
        if req.get("timeout"):
            self.deadline = self.started + req["timeout"]
        return True

    def on_output(self, fd: int) -> None:
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:  # a spurious wake-up: nothing to read after all
            return
        if not data:
            self.close_output(fd)
            return
        output = self.outputs[fd]
        text, cut = output.text(data, self.agent.cap)
        self.truncated = self.truncated or cut
        if text:
            send({"id": self.rid, "type": output.name, "data": text})

    def close_output(self, fd: int) -> None:
        output = self.outputs.pop(fd)
        self.agent.unwatch(fd)
        tail = output.tail(self.agent.cap)
        if tail:
            send({"id": self.rid, "type": output.name, "data": tail})
        self.finish_if_done()

    def on_stdin(self, fd: int) -> None:
        try:
            written = os.write(fd, self.stdin[:CHUNK])
        except BlockingIOError:
            return
        except BrokenPipeError:
            written = len(self.stdin)  # the command did not read all of it
        self.stdin = self.stdin[written:]
        if not self.stdin:
            self.close_stdin()

    def close_stdin(self) -> None:
        if self.stdin_fd >= 0:
            self.agent.unwatch(self.stdin_fd)
            self.stdin_fd = -1

    def on_exit(self, fd: int) -> None:
        self.agent.unwatch(fd)
        if self.status is None:
            try:
                _, self.status = os.waitpid(self.pid, 0)
            except ChildProcessError:  # reaped as an orphan would be, just now
                self.status = self.agent.reaped.pop(self.pid, 0)
        self.agent.by_pid.pop(self.pid, None)
        # The run is over when its main process exits; a background process
        # it started (a dev server, say) keeps running and may hold the pipes
        # open, so output is drained for a moment only.
        self.drain_until = time.monotonic() + OUTPUT_GRACE_S
        self.finish_if_done()

    def next_deadline(self) -> float | None:
        return self.drain_until if self.status is not None else self.deadline

    def on_time(self, now: float) -> None:
        if self.status is None and self.deadline is not None and now >= self.deadline:
            self.deadline = None
            self.timed_out = not self.cancelled
            kill_run(self.pid, str(self.rid))  # its exit arrives through the pidfd
        elif self.status is not None and now >= self.drain_until:
            for fd in list(self.outputs):
                self.close_output(fd)

    def cancel(self) -> None:
        self.cancelled = True
        if self.pid:
            kill_run(self.pid, str(self.rid))

    def finish_if_done(self) -> None:
        if self.status is None or self.outputs or self.rid not in self.agent.runs:
            return
        self.close_stdin()
        del self.agent.runs[self.rid]
        code = 124 if self.timed_out else os.waitstatus_to_exitcode(self.status)
        if code < 0:
            code = 128 - code  # killed by a signal, as a shell reports it
        send({"id": self.rid, "type": "exit", "exit_code": code, "timed_out": self.timed_out,
              "truncated": self.truncated, "duration_ms": round((time.monotonic() - self.started) * 1000, 3)})


MAX_ENTRIES = 10_000


def _kind(st_mode: int) -> str:
    return ("dir" if stat.S_ISDIR(st_mode) else "file" if stat.S_ISREG(st_mode)
            else "symlink" if stat.S_ISLNK(st_mode) else "other")


def file_op(tree: Tree, rid, req: dict) -> None:
    try:
        send(_file_reply(tree, rid, req))
    except (OSError, ValueError, KeyError) as exc:
        send({"id": rid, "type": "error", "kind": "not_found" if isinstance(exc, FileNotFoundError) else "invalid",
              "message": str(exc)})


def _file_reply(tree: Tree, rid, req: dict) -> dict:
    """The reply to one file call. Every path is opened through the tree,
    and every change is made relative to its folder's descriptor (the *at
    calls, which never follow a link in the last name)."""
    rel, op = resolve(req["path"]), req["op"]
    if op == "list_files":
        entries, fd = [], tree.open(rel, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with os.scandir(fd) as it:
                for entry in it:
                    if len(entries) >= MAX_ENTRIES:
                        break
                    st = entry.stat(follow_symlinks=False)
                    entries.append({"name": entry.name, "path": os.path.normpath(os.path.join(rel, entry.name)),
                                    "type": _kind(st.st_mode), "size": st.st_size, "mtime": st.st_mtime})
        finally:
            os.close(fd)
        return {"id": rid, "type": "file", "entries": sorted(entries, key=lambda e: e["name"]),
                "truncated": len(entries) >= MAX_ENTRIES}
    if op == "file_exists":
        try:
            kind = "dir" if rel == "." else _kind(_lstat(tree, rel).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            kind = ""
        return {"id": rid, "type": "file", "exists": bool(kind), "kind": kind}
    if op == "delete_file":
        if rel == ".":
            raise ValueError("the workspace itself cannot be deleted")
        folder, name = tree.parent(rel)
        try:
            if stat.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                import shutil  # only for deleting folders

                shutil.rmtree(name, dir_fd=folder)  # descriptor-based: safe against links swapped in meanwhile
            else:
                os.unlink(name, dir_fd=folder)
        finally:
            os.close(folder)
        return {"id": rid, "type": "file", "deleted": True}
    if op == "write_file":
        offset = int(req.get("offset") or 0)
        if offset:  # the next piece of an upload: only where the last one ended
            fd = tree.regular(rel, os.O_WRONLY)
        else:
            if rel == ".":
                raise ValueError("the workspace itself is a folder")
            os.close(tree.parent(rel, create=True)[0])
            fd = tree.regular(rel, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with open(fd, "wb") as f:
            size = f.seek(0, os.SEEK_END)
            if offset and size != offset:
                raise ValueError(f"the file is {size} bytes, not {offset}: pieces must come in order")
            f.write(base64.b64decode(req["data"]))
            f.flush()
            size = os.fstat(fd).st_size
        return {"id": rid, "type": "file", "path": req["path"], "size": size}
    if op == "move_file":
        target = resolve(req["to"])
        if "." in (rel, target):
            raise ValueError("the workspace itself cannot be moved")
        source, name = tree.parent(rel)
        try:
            folder, new_name = tree.parent(target, create=True)
            try:
                os.replace(name, new_name, src_dir_fd=source, dst_dir_fd=folder)
                size = os.stat(new_name, dir_fd=folder, follow_symlinks=False).st_size
            finally:
                os.close(folder)
        finally:
            os.close(source)
        return {"id": rid, "type": "file", "path": req["to"], "size": size}
    limit, offset = int(req["max_bytes"]), int(req.get("offset") or 0)
    with open(tree.regular(rel, os.O_RDONLY), "rb") as f:
        size = os.fstat(f.fileno()).st_size
        length = int(req.get("length") or 0) or max(0, size - offset)
        if length > limit:
            raise ValueError(f"file is {size} bytes, over the read limit of {limit}: "
                             "read it in ranges, or download it")
        f.seek(offset)
        data = f.read(length)
    return {"id": rid, "type": "file", "path": req["path"], "size": size, "data": base64.b64encode(data).decode()}


def _lstat(tree: Tree, rel: str) -> os.stat_result:
    folder, name = tree.parent(rel)
    try:
        return os.stat(name, dir_fd=folder, follow_symlinks=False)
    finally:
        os.close(folder)


ANSI = None  # the pattern of terminal colour codes, compiled on the first cell


class Kernel:
    """The sandbox's persistent Python context: an IPython kernel (Debian's
    ipykernel), started on the first cell and driven with jupyter_client over
    unix sockets under /tmp, as a child of this agent, under the sandbox's
    limits like any run. Cells run one at a time, each in its own thread
    (a cell waits on the kernel, never on the loop). jupyter_client is
    imported on the first cell only: it is heavy, and a sandbox that never
    runs a cell never pays for it."""

    def __init__(self, cap: int):
        self.cap = cap
        self.manager = None
        self.client = None
        self.lock = threading.Lock()

    def _start(self) -> None:
        import site  # this agent starts without site-packages (-S): the kernel stack lives there

        sys.path.extend(p for p in site.getsitepackages() if p not in sys.path)
        from jupyter_client.manager import KernelManager

        os.makedirs("/tmp/.cerver-kernel", mode=0o700, exist_ok=True)
        # Python puts the user site on the path only if it exists at start:
        # packages installed later (into the workspace) must be importable.
        os.makedirs(f"{WORKSPACE}/.local/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages",
                    exist_ok=True)
        manager = KernelManager(kernel_name="python3", transport="ipc", ip="/tmp/.cerver-kernel/k",
                                connection_file="/tmp/.cerver-kernel/connection.json")
        import subprocess  # loaded already by jupyter_client

        # Never this agent's stdout and stderr, which jupyter_client would
        # hand on: code in a cell (or a run, through the kernel's /proc/*/fd)
        # could write lines into the channel to the host.
        manager.start_kernel(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**BASE_ENV, "JUPYTER_RUNTIME_DIR": "/tmp/.cerver-kernel",
                                  "IPYTHONDIR": "/tmp/.cerver-kernel/ipython",
                                  "PYDEVD_DISABLE_FILE_VALIDATION": "1"},  # quiet the debugger's warnings
                             cwd=WORKSPACE, extra_arguments=["--InteractiveShell.colors=NoColor",
                                                             "--HistoryManager.enabled=False"])
        try:  # an OOM in the sandbox takes the kernel, as it would a run, not this agent
            with open(f"/proc/{manager.provisioner.pid}/oom_score_adj", "w") as f:
                f.write("1000")
        except (OSError, AttributeError):
            pass
        client = manager.blocking_client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        self.manager, self.client = manager, client

    def stop(self) -> None:
        if self.manager is not None:
            try:
                self.client.stop_channels()
                self.manager.shutdown_kernel(now=True)
            except Exception:  # it may be gone already; nothing of it may outlive the sandbox's agent
                pass
        self.manager = self.client = None

    def restart(self, rid) -> None:
        with self.lock:
            self.stop()
        send({"id": rid, "type": "restarted"})

    def cell(self, rid, req: dict) -> None:
        with self.lock:
            started = time.monotonic()
            restarted = False
            try:
                if self.manager is None or not self.manager.is_alive():
                    restarted = self.manager is not None  # it died: what it held is gone
                    self.stop()
                    self._start()
                outcome = self._execute(rid, req["code"], float(req.get("timeout", 300)))
            except Exception as exc:  # the kernel would not start or answer
                self.stop()
                send({"id": rid, "type": "error", "kind": "unavailable",
                      "message": f"the Python context failed: {type(exc).__name__}: {exc}"})
                return
            if outcome.pop("lost"):
                self.stop()  # it would not stop at the timeout: the next cell starts afresh
                restarted = True
            send({"id": rid, "type": "cell", "duration_ms": round((time.monotonic() - started) * 1000, 3),
                  "context_restarted": restarted, **outcome})

    def _execute(self, rid, code: str, timeout: float) -> dict:
        global ANSI
        if ANSI is None:
            import re
            ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
        client = self.client
        msg_id = client.execute(code, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + timeout
        out = {"results": [], "error_name": "", "error_value": "", "traceback": [], "timed_out": False,
               "truncated": False, "lost": False}
        sent = 0
        interrupted_at = None
        while True:
            now = time.monotonic()
            if interrupted_at is None and now >= deadline:
                out["timed_out"] = True
                interrupted_at = now
                self.manager.interrupt_kernel()  # as Jupyter's interrupt: the context stays
            if interrupted_at is not None and now - interrupted_at > 5:
                out["lost"] = True
                return out
            try:
                msg = client.get_iopub_msg(timeout=max(0.01, min(deadline, now + 1) - now) if interrupted_at is None
                                           else 0.5)
            except Exception:  # queue.Empty: nothing yet
                if not self.manager.is_alive():
                    out["lost"] = True
                    return out
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                text = content.get("text", "")
                if sent + len(text) > self.cap:
                    text, out["truncated"] = text[:max(0, self.cap - sent)], True
                sent += len(text)
                if text:
                    send({"id": rid, "type": "stderr" if content.get("name") == "stderr" else "stdout", "data": text})
            elif kind in ("execute_result", "display_data"):
                data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in content.get("data", {}).items()}
                size = sum(len(v) for v in data.values())
                if sent + size > self.cap:
                    out["truncated"] = True
                    continue
                sent += size
                out["results"].append({"data": data, "is_main_result": kind == "execute_result"})
            elif kind == "error":
                out["error_name"], out["error_value"] = content.get("ename", ""), content.get("evalue", "")
                out["traceback"] = [ANSI.sub("", line) for line in content.get("traceback", [])][:200]
            elif kind == "status" and content.get("execution_state") == "idle":
                return out


class Agent:
    def __init__(self, cap: int):
        self.cap = cap
        self.runs: dict = {}
        self.by_pid: dict = {}  # a run's main process -> its Run
        self.reaped: dict = {}  # wait statuses of runs' main processes reaped by reap()
        self.oom = OomScore()
        self.watchers: dict = {}
        self._poll = select.poll()
        self._inbox = bytearray()
        self._open = True  # until the host closes our stdin
        self.kernel = Kernel(cap)
        self.tree = Tree(WORKSPACE)  # file calls open what they touch through it

    def watch(self, fd: int, handler, events: int = select.POLLIN) -> None:
        os.set_blocking(fd, False)
        self.watchers[fd] = handler
        self._poll.register(fd, events)

    def unwatch(self, fd: int) -> None:
        """Stop watching fd and close it."""
        if self.watchers.pop(fd, None) is not None:
            self._poll.unregister(fd)
            os.close(fd)

    def reap(self, fd: int) -> None:
        """SIGCHLD: collect every exited child that no Run waits for (the
        orphans a pid 1 inherits); a run's main process keeps its status."""
        try:
            os.read(fd, 4096)
        except BlockingIOError:
            pass
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            run = self.by_pid.get(pid)
            if run is not None:
                self.reaped[pid] = status

    def serve(self) -> None:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.watch(wake_r, self.reap)
        self.watch(sys.stdin.fileno(), self.on_requests)
        send({"type": "ready", "pid": os.getpid()})
        while self._open:
            deadlines = [d for run in self.runs.values() if (d := run.next_deadline()) is not None]
            timeout = None if not deadlines else max(0, (min(deadlines) - time.monotonic()) * 1000)
            for fd, _events in self._poll.poll(timeout):
                handler = self.watchers.get(fd)
                if handler is not None:
                    handler(fd)
            if deadlines:
                now = time.monotonic()
                for run in list(self.runs.values()):
                    run.on_time(now)
        for run in list(self.runs.values()):  # the host closed the channel: nothing may outlive it
            run.cancel()
        self.kernel.stop()

    def on_requests(self, fd: int) -> None:
        data = os.read(fd, 1 << 20)
        if not data:
            self._open = False
            return
        start = len(self._inbox)  # a newline can only be in what just came
        self._inbox += data
        while (end := self._inbox.find(b"\n", start)) >= 0:
            line = bytes(self._inbox[:end])
            del self._inbox[:end + 1]
            start = 0
            self.handle(json.loads(line))

    def handle(self, req: dict) -> None:
        op, rid = req.get("op"), req.get("id")
        if op == "run":
            run = Run(self, rid, req)
            self.runs[rid] = run
            if not run.start():
                del self.runs[rid]
        elif op == "cancel":
            run = self.runs.get(req.get("target"))
            if run is not None:
                run.cancel()
        elif op == "cell":
            threading.Thread(target=self.kernel.cell, args=(rid, req), daemon=True).start()
        elif op == "restart_context":
            threading.Thread(target=self.kernel.restart, args=(rid,), daemon=True).start()
        elif op in ("write_file", "read_file", "list_files", "file_exists", "delete_file", "move_file"):
            # Off the loop: a large file must not hold up other runs' output.
            threading.Thread(target=file_op, args=(self.tree, rid, req), daemon=True).start()
        else:
            send({"id": rid, "type": "error", "kind": "invalid", "message": f"unknown op {op!r}"})


def serve(config: dict) -> None:
    # File operations' threads and the loop share the GIL: hand it over fast.
    sys.setswitchinterval(0.0002)
    agent = Agent(int(config.get("output_cap", 1 << 20)))
    harden()
    agent.serve()


if __name__ == "__main__":
    settings = json.loads(sys.argv[1])
    WORKSPACE = settings.get("workspace", WORKSPACE)  # unisolated mode runs in the host's folder
    BASE_ENV["HOME"] = WORKSPACE
    os.chdir(WORKSPACE)
    serve(settings)
