"""Runs inside a sandbox (under bubblewrap), started once per sandbox, so a
run costs one fork+exec rather than a fresh set of namespaces.

Standard library only: it runs on the host's system Python inside the
sandbox, not in Cerver's virtualenv. Speaks JSON lines on stdin/stdout:
requests {"id", "op", ...}; replies {"id", "type", ...}. Runs are
concurrent; each run's output streams back as it happens.
"""
import asyncio
import base64
import codecs
import json
import os
import resource
import signal
import subprocess
import sys
import time

WORKSPACE = "/workspace"
CHUNK = 64 * 1024
OUTPUT_GRACE_S = 0.25
RUN_MARK = "CERVER_RUN_ID"  # in every run's environment, to find its processes


def limits(memory_bytes: int, max_procs: int, max_file_bytes: int):
    def apply():
        os.setpgid(0, 0)  # its own process group: a timeout kills the whole tree
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_NPROC, (max_procs, max_procs))
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_file_bytes, max_file_bytes))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


class Agent:
    def __init__(self, config: dict):
        self.config = config
        self.out_lock = asyncio.Lock()

    async def send(self, message: dict) -> None:
        async with self.out_lock:
            sys.stdout.buffer.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
            sys.stdout.buffer.flush()

    def _path(self, path: str) -> str:
        full = os.path.normpath(os.path.join(WORKSPACE, path))
        if full != WORKSPACE and not full.startswith(WORKSPACE + "/"):
            raise ValueError("path must stay inside the workspace")
        return full

    async def handle(self, req: dict) -> None:
        rid = req.get("id")
        try:
            op = req["op"]
            if op == "run":
                await self.run(rid, req)
            elif op == "write_file":
                path = self._path(req["path"])
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(base64.b64decode(req["data"]))
                await self.send({"id": rid, "type": "file", "path": req["path"], "size": os.path.getsize(path)})
            elif op == "read_file":
                path = self._path(req["path"])
                size = os.path.getsize(path)
                if size > req.get("max_bytes", 8 << 20):
                    raise ValueError(f"file is {size} bytes, over the read limit")
                with open(path, "rb") as f:
                    data = f.read()
                await self.send({"id": rid, "type": "file", "path": req["path"], "size": size,
                                 "data": base64.b64encode(data).decode()})
            else:
                raise ValueError(f"unknown op {op!r}")
        except (OSError, ValueError, KeyError) as exc:
            kind = "not_found" if isinstance(exc, FileNotFoundError) else "invalid"
            await self.send({"id": rid, "type": "error", "kind": kind, "message": str(exc)})

    async def run(self, rid, req: dict) -> None:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": WORKSPACE, "LANG": "C.UTF-8",
               "TMPDIR": "/tmp", **req.get("env", {}), RUN_MARK: str(rid)}
        cap = int(self.config.get("output_cap", 1 << 20))
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        # Our own pipes and a pidfd: the run ends when its main process
        # exits, even if a background child still holds the pipes open
        # (asyncio's Process.wait() would wait for the pipes too).
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        stdin_data = req.get("stdin", "").encode()
        proc = subprocess.Popen(
            req["argv"], cwd=WORKSPACE, env=env, stdout=out_w, stderr=err_w,
            stdin=subprocess.PIPE if stdin_data else subprocess.DEVNULL, close_fds=True,
            preexec_fn=limits(self.config["memory_bytes"], self.config["max_procs"], self.config["max_file_bytes"]))
        os.close(out_w)
        os.close(err_w)
        exited = loop.create_future()
        pidfd = os.pidfd_open(proc.pid)

        def on_exit() -> None:
            loop.remove_reader(pidfd)
            os.close(pidfd)
            if not exited.done():
                exited.set_result(proc.wait())

        loop.add_reader(pidfd, on_exit)
        streams = [await _reader(loop, out_r), await _reader(loop, err_r)]
        await self.send({"id": rid, "type": "started"})
        if stdin_data:  # fed beside the output pumps, so neither side can block the other
            loop.run_in_executor(None, _feed, proc.stdin, stdin_data)
        truncated = [False]

        async def pump(stream, name):
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            sent = 0
            while True:
                data = await stream.read(CHUNK)
                if not data:
                    break
                if sent >= cap:
                    truncated[0] = True
                    continue  # keep draining so the process never blocks
                if sent + len(data) > cap:
                    keep = data[:cap - sent]
                    # End on a line boundary when one is near, not mid-line.
                    nl = keep.rfind(b"\n")
                    keep = keep[:nl + 1] if nl >= 0 and len(keep) - nl < 4096 else keep
                    text = decoder.decode(keep, final=True)
                    text += f"\n[output truncated: {name} is capped at {cap} bytes]\n"
                    sent = cap
                    truncated[0] = True
                else:
                    text = decoder.decode(data)
                    sent += len(data)
                if text:
                    await self.send({"id": rid, "type": name, "data": text})
            tail = decoder.decode(b"", final=True)
            if tail and sent < cap:
                await self.send({"id": rid, "type": name, "data": tail})

        timed_out = False
        pumps = asyncio.gather(pump(streams[0], "stdout"), pump(streams[1], "stderr"))
        try:
            await asyncio.wait_for(asyncio.shield(exited), timeout=req.get("timeout") or None)
        except asyncio.TimeoutError:
            timed_out = True
            kill_run(proc.pid, str(rid))
            await exited
        except asyncio.CancelledError:
            kill_run(proc.pid, str(rid))
            pumps.cancel()
            raise
        try:
            # The run is over when its main process exits; a background
            # process it started (a dev server, say) keeps running, and may
            # hold the pipes open, so output is drained for a moment only.
            await asyncio.wait_for(asyncio.shield(pumps), timeout=OUTPUT_GRACE_S)
        except asyncio.TimeoutError:
            pumps.cancel()
        code = exited.result()
        if timed_out:
            code = 124
        elif code is not None and code < 0:
            code = 128 - code
        await self.send({"id": rid, "type": "exit", "exit_code": code, "timed_out": timed_out,
                         "truncated": truncated[0], "duration_ms": round((time.monotonic() - started) * 1000, 3)})

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=64 << 20)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        tasks: dict = {}
        await self.send({"type": "ready", "pid": os.getpid()})
        while True:
            line = await reader.readline()
            if not line:
                break
            req = json.loads(line)
            if req.get("op") == "cancel":
                task = tasks.get(req.get("target"))
                if task is not None:
                    task.cancel()
                continue
            task = asyncio.ensure_future(self.handle(req))
            tasks[req.get("id")] = task
            task.add_done_callback(lambda _t, rid=req.get("id"): tasks.pop(rid, None))
        for task in list(tasks.values()):
            task.cancel()


def _feed(pipe, data: bytes) -> None:
    try:
        pipe.write(data)
    except BrokenPipeError:
        pass  # the command did not read all of it
    finally:
        pipe.close()


async def _reader(loop, fd: int) -> asyncio.StreamReader:
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0))
    return reader


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


if __name__ == "__main__":
    settings = json.loads(sys.argv[1])
    WORKSPACE = settings.get("workspace", WORKSPACE)  # unisolated mode runs in the host's folder
    asyncio.run(Agent(settings).serve())
