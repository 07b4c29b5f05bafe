"""Runs inside a sandbox (under bubblewrap), started once per sandbox, so a
run costs one posix_spawn inside namespaces that already exist.

Standard library only, and only its cheap modules (no asyncio, no
subprocess: their imports alone would double a cold start): it runs on the
host's system Python inside the sandbox, not in Cerver's virtualenv. Speaks
JSON lines on stdin/stdout: requests {"id", "op", ...}; replies
{"id", "type", ...}. Runs are concurrent, one thread each; output streams
back as it happens.
"""
import base64
import codecs
import json
import os
import resource
import select
import signal
import sys
import threading
import time

WORKSPACE = "/workspace"
CHUNK = 64 * 1024
OUTPUT_GRACE_S = 0.25  # how long output is drained after a run's main process exits
RUN_MARK = "CERVER_RUN_ID"  # in every run's environment, to find its processes
BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": WORKSPACE, "LANG": "C.UTF-8", "TMPDIR": "/tmp"}

_out_lock = threading.Lock()


def send(message: dict) -> None:
    data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
    with _out_lock:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def apply_limits(config: dict) -> None:
    """Per-process limits, set once here and inherited by every run."""
    for limit, value in ((resource.RLIMIT_AS, config["memory_bytes"]), (resource.RLIMIT_NPROC, config["max_procs"]),
                         (resource.RLIMIT_FSIZE, config["max_file_bytes"]), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(limit, (value, value))


def kill_run(pid: int, run_id: str) -> None:
    """Kill a run's process group, then any process still carrying its mark
    (a grandchild that left the group with setsid). On timeout and cancel."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    mark = f"{RUN_MARK}={run_id}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if mark in f.read().split(b"\0"):
                    os.kill(int(entry), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


def resolve(path: str) -> str:
    full = os.path.normpath(os.path.join(WORKSPACE, path))
    if full != WORKSPACE and not full.startswith(WORKSPACE + "/"):
        raise ValueError("path must stay inside the workspace")
    return full


class Run:
    def __init__(self, rid, req: dict, cap: int):
        self.rid = rid
        self.req = req
        self.cap = cap
        self.pid = 0
        self.cancelled = threading.Event()
        self.stop_pumps = threading.Event()
        self.truncated = False

    def cancel(self) -> None:
        self.cancelled.set()
        if self.pid:
            kill_run(self.pid, str(self.rid))

    def execute(self) -> None:
        req = self.req
        env = {**BASE_ENV, **req.get("env", {}), RUN_MARK: str(self.rid)}
        stdin_data = req.get("stdin", "").encode()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        actions = [(os.POSIX_SPAWN_DUP2, out_w, 1), (os.POSIX_SPAWN_DUP2, err_w, 2)]
        in_r = in_w = -1
        if stdin_data:
            in_r, in_w = os.pipe()
            actions.append((os.POSIX_SPAWN_DUP2, in_r, 0))
        else:
            actions.append((os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0))
        started = time.monotonic()
        try:
            # Its own process group: a timeout kills the whole tree.
            self.pid = os.posix_spawnp(req["argv"][0], req["argv"], env, file_actions=actions, setpgroup=0)
        except OSError as exc:
            for fd in (out_r, out_w, err_r, err_w, in_r, in_w):
                if fd >= 0:
                    os.close(fd)
            send({"id": self.rid, "type": "stderr", "data": f"cannot start {req['argv'][0]}: {exc.strerror}\n"})
            send({"id": self.rid, "type": "exit", "exit_code": 127, "timed_out": False, "truncated": False,
                  "duration_ms": 0.0})
            return
        for fd in (out_w, err_w, in_r):
            if fd >= 0:
                os.close(fd)
        send({"id": self.rid, "type": "started"})
        pumps = [threading.Thread(target=self.pump, args=(out_r, "stdout"), daemon=True),
                 threading.Thread(target=self.pump, args=(err_r, "stderr"), daemon=True)]
        if stdin_data:
            pumps.append(threading.Thread(target=feed, args=(in_w, stdin_data), daemon=True))
        for t in pumps:
            t.start()
        timed_out, status = self.wait(req.get("timeout"))
        # The run is over when its main process exits; a background process
        # it started (a dev server, say) keeps running and may hold the pipes
        # open, so output is drained for a moment only.
        deadline = time.monotonic() + OUTPUT_GRACE_S
        for t in pumps[:2]:
            t.join(max(0.0, deadline - time.monotonic()))
        self.stop_pumps.set()
        for t in pumps[:2]:
            t.join()
        code = 124 if timed_out else (os.waitstatus_to_exitcode(status) if status is not None else -1)
        if code < 0:
            code = 128 - code  # killed by a signal, as a shell reports it
        send({"id": self.rid, "type": "exit", "exit_code": code, "timed_out": timed_out, "truncated": self.truncated,
              "duration_ms": round((time.monotonic() - started) * 1000, 3)})

    def wait(self, timeout) -> tuple[bool, int | None]:
        pidfd = os.pidfd_open(self.pid)
        try:
            ready, _, _ = select.select([pidfd], [], [], timeout or None)
        finally:
            os.close(pidfd)
        timed_out = not ready and not self.cancelled.is_set()
        if not ready:
            kill_run(self.pid, str(self.rid))
        _, status = os.waitpid(self.pid, 0)
        return timed_out, status

    def pump(self, fd: int, name: str) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        sent = 0
        try:
            while not self.stop_pumps.is_set():
                ready, _, _ = select.select([fd], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(fd, CHUNK)
                if not data:
                    break
                if sent >= self.cap:
                    self.truncated = True
                    continue  # keep draining so the process never blocks
                if sent + len(data) > self.cap:
                    keep = data[:self.cap - sent]
                    # End on a line boundary when one is near, not mid-line.
                    nl = keep.rfind(b"\n")
                    keep = keep[:nl + 1] if nl >= 0 and len(keep) - nl < 4096 else keep
                    text = decoder.decode(keep, final=True) + f"\n[output truncated: {name} is capped at {self.cap} bytes]\n"
                    sent = self.cap
                    self.truncated = True
                else:
                    text = decoder.decode(data)
                    sent += len(data)
                if text:
                    send({"id": self.rid, "type": name, "data": text})
            tail = decoder.decode(b"", final=True)
            if tail and sent < self.cap:
                send({"id": self.rid, "type": name, "data": tail})
        finally:
            os.close(fd)


def feed(fd: int, data: bytes) -> None:
    try:
        os.write(fd, data)
    except BrokenPipeError:
        pass  # the command did not read all of it
    finally:
        os.close(fd)


def file_op(rid, req: dict) -> None:
    try:
        path = resolve(req["path"])
        if req["op"] == "write_file":
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(base64.b64decode(req["data"]))
            send({"id": rid, "type": "file", "path": req["path"], "size": os.path.getsize(path)})
            return
        size = os.path.getsize(path)
        if size > req.get("max_bytes", 8 << 20):
            raise ValueError(f"file is {size} bytes, over the read limit")
        with open(path, "rb") as f:
            data = f.read()
        send({"id": rid, "type": "file", "path": req["path"], "size": size, "data": base64.b64encode(data).decode()})
    except (OSError, ValueError, KeyError) as exc:
        send({"id": rid, "type": "error", "kind": "not_found" if isinstance(exc, FileNotFoundError) else "invalid",
              "message": str(exc)})


def serve(config: dict) -> None:
    # A run wakes several threads at once (exit, output pumps); with the
    # default 5 ms switch interval they can wait on each other for the GIL.
    sys.setswitchinterval(0.0002)
    apply_limits(config)
    cap = int(config.get("output_cap", 1 << 20))
    runs: dict = {}
    send({"type": "ready", "pid": os.getpid()})
    for line in sys.stdin.buffer:
        req = json.loads(line)
        op, rid = req.get("op"), req.get("id")
        if op == "cancel":
            run = runs.get(req.get("target"))
            if run is not None:
                run.cancel()
        elif op == "run":
            run = runs[rid] = Run(rid, req, cap)

            def execute(run=run):
                try:
                    run.execute()
                finally:
                    runs.pop(run.rid, None)

            threading.Thread(target=execute, daemon=True).start()
        elif op in ("write_file", "read_file"):
            threading.Thread(target=file_op, args=(rid, req), daemon=True).start()
        else:
            send({"id": rid, "type": "error", "kind": "invalid", "message": f"unknown op {op!r}"})
    for run in list(runs.values()):  # the host closed the channel: nothing may outlive it
        run.cancel()


if __name__ == "__main__":
    settings = json.loads(sys.argv[1])
    WORKSPACE = settings.get("workspace", WORKSPACE)  # unisolated mode runs in the host's folder
    BASE_ENV["HOME"] = WORKSPACE
    os.chdir(WORKSPACE)
    serve(settings)
