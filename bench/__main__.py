"""python -m bench — starts `cerver dev` on a free port and measures, in one run:

  * REST /run of `echo hi` on a ready session vs. three baselines spawned
    directly, interleaved with it: a plain posix_spawn of `echo hi` (no
    isolation: the physical floor),
    a fresh sandbox as the first wave isolated it (bubblewrap as root, no
    uid of its own, no cgroups, no seccomp) and a fresh sandbox with today's
    isolation (launcher, own uid, cgroups, seccomp, sized /tmp, workspace image);
  * session create (provisioning) p50/p95, from the warm pool and cold
    (a new workspace image, cgroups and sandbox), and a workspace image alone;
  * create -> first command (session create + its first /run);
  * stream first-byte latency, alone and with 200 streams at once over 4
    sessions (every one must complete);
  * 64 concurrent sessions each running 20 commands: runs/s and errors;
  * the shape's floor (bench/floor.py: an edge, two Python gRPC hops and a
    spawn doing nothing else) under the same /run, stream and throughput
    loads, so that the stack's figures read against what the shape costs;
  * where a /run's time goes: a stack of its own exporting its spans (OTLP)
    to this process, each span's median start and duration across the
    edge, sessions, the node and the database.

Targets (issue 13) are marked ok/MISS beside each figure.

Client-side wall clock is the measure here: this is what a caller sees.
"""
import asyncio
import collections
import concurrent.futures
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import aiohttp
import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from bench.floor import Floor
from cli.dev import free_port
from services.compute.adapters.local import LocalProvider
from servicekit.limits import Limits
from services.compute.isolation.workspaces import new_id

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUNS, PROVISIONS, STREAMS = 200, 40, 50
SESSIONS, COMMANDS = 64, 20
CONCURRENT_STREAMS, STREAM_SESSIONS = 200, 4
TRACED_RUNS = 200
TRICKLE = "for i in $(seq 20); do echo $i; sleep 0.05; done"
ECHO = ["/bin/sh", "-c", "echo hi"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


class Baselines:
    """Sandboxes spawned straight from this process, as the local adapter does."""

    def __init__(self, tmp: pathlib.Path):
        self.provider = LocalProvider(tmp / "baseline", limits=Limits(), warm=0)
        self.workspace_id = new_id()
        self.mount, self.uid, self.procs = pathlib.Path(), 0, []

    async def start(self) -> None:
        await self.provider.start()
        self.mount, self.uid = await self.provider.workspaces.create(self.workspace_id, 64)
        self.procs = self.provider.cgroups.create(self.workspace_id, self.provider.limits)

    async def close(self) -> None:
        await self.provider.delete(_Box(self.workspace_id), keep_workspace=False)
        await self.provider.close()

    def isolated_ms(self) -> float:
        """A fresh sandbox with today's isolation running `echo hi`."""
        r, w = os.pipe()
        os.write(w, self.provider.seccomp_filter())
        os.close(w)
        try:
            return spawn_ms(self.provider.launch_argv(self.mount, self.uid, self.procs, ECHO, self.provider.limits,
                                                      seccomp_fd=r), pass_fds=(r,))
        finally:
            os.close(r)

    def first_wave_ms(self) -> float:
        """The first wave's sandbox: bubblewrap as root, the same namespaces
        and mounts, none of today's identity, cgroups or seccomp."""
        etc = self.provider.runtime / "etc"
        folder = self.provider.root / "first-wave"
        folder.mkdir(exist_ok=True)
        argv = ["bwrap", "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--unshare-net", "--die-with-parent", "--new-session", "--uid", "1000", "--gid", "1000",
                "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
                "--symlink", "usr/lib64", "/lib64", "--ro-bind", str(etc / "passwd"), "/etc/passwd",
                "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--bind", str(folder), "/workspace",
                "--chdir", "/workspace", "--clearenv", *ECHO]
        return spawn_ms(argv)

    async def workspace_ms(self) -> float:
        """Create and mount a workspace image, then remove it."""
        workspace_id = new_id()
        started = time.perf_counter()
        await self.provider.workspaces.create(workspace_id, 10240)
        elapsed = (time.perf_counter() - started) * 1000
        await self.provider.workspaces.delete(workspace_id)
        return elapsed


class _Box:
    def __init__(self, workspace_id: str):
        self.sandbox_id, self.compute_id, self.workspace_id, self.network = "sbx_bench", "", workspace_id, False


def posix_spawn_ms() -> float:
    """The physical floor: posix_spawn of echo, nothing around it."""
    started = time.perf_counter()
    pid = os.posix_spawn("/bin/echo", ["echo", "hi"], {},
                         file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)])
    os.waitpid(pid, 0)
    return (time.perf_counter() - started) * 1000


def spawn_ms(argv: list[str], pass_fds=()) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env={}, pass_fds=pass_fds)
    return (time.perf_counter() - started) * 1000


def start_stack(tmp: pathlib.Path, port: int, replicas: int = 1, **extra: str) -> subprocess.Popen:
    env = {**os.environ, "CERVER_HTTP_PORT": str(port), "CERVER_DATA_DIR": str(tmp / f"data-{port}"),
           "CERVER_SANDBOX_WARM": "4", "CERVER_DEV_REPLICAS": str(replicas), **extra}
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "dev"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if "Cerver is running at" in line:
            # Keep reading what the stack prints: a full pipe would block its services.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc
    raise SystemExit("bench: the stack did not start")


class Client:
    def __init__(self, http: aiohttp.ClientSession, base: str, key: str = ""):
        self.http, self.base, self.key = http, base, key

    async def post(self, path: str, body: dict) -> dict:
        async with self.http.post(self.base + path, json=body, headers={"Authorization": f"Bearer {self.key}"}) as r:
            data = await r.json()
            if r.status != 200:
                raise RuntimeError(f"{path}: {r.status} {data}")
            return data

    async def session(self) -> str:
        return (await self.post("/v2/sessions", {"requirements": {"runtime": "shell"}}))["session_id"]

    async def delete(self, sid: str) -> None:
        async with self.http.delete(f"{self.base}/v2/sessions/{sid}", headers={"Authorization": f"Bearer {self.key}"}):
            pass

    async def run(self, sid: str, code: str) -> dict:
        return await self.post(f"/v2/sessions/{sid}/run", {"code": code})

    def stream(self, sid: str, code: str):
        return self.http.post(f"{self.base}/v2/sessions/{sid}/run/stream", json={"code": code},
                              headers={"Authorization": f"Bearer {self.key}"})


class FloorClient:
    """The same calls against the shape's floor (bench/floor.py), which has
    no sessions: each "session" is just a name."""

    def __init__(self, http: aiohttp.ClientSession, base: str):
        self.http, self.base = http, base

    async def session(self) -> str:
        return ""

    async def delete(self, sid: str) -> None:
        pass

    async def run(self, sid: str, code: str) -> dict:
        async with self.http.post(self.base + "/run", json={"code": code}) as r:
            if r.status != 200:
                raise RuntimeError(f"floor /run: {r.status}")
            return await r.json()

    def stream(self, sid: str, code: str):
        return self.http.post(self.base + "/run/stream", json={"code": code})


async def timed(coro) -> float:
    started = time.perf_counter()
    await coro
    return (time.perf_counter() - started) * 1000


async def measure(base: str, baselines: Baselines, floor_base: str) -> dict:
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=300)) as http:
        anon = Client(http, base)
        api = Client(http, base, (await anon.post("/v2/auth/login", {"email": "bench@example.com"}))["api_key"])
        floor = FloorClient(http, floor_base)
        figures: dict = {}

        sid = await api.session()
        for _ in range(10):  # warm caches and connections
            await api.run(sid, "echo hi")
            await floor.run("", "echo hi")
        # Interleaved, so that both see the same machine: on a shared
        # 2-core host, conditions drift more between minutes than the gap
        # being measured.
        for name in ("run", "plain", "first_wave", "isolated", "floor", "workspace", "cold"):
            figures[name] = []
        for _ in range(RUNS):
            figures["plain"].append(posix_spawn_ms())
            figures["first_wave"].append(baselines.first_wave_ms())
            figures["isolated"].append(baselines.isolated_ms())
            figures["floor"].append(await timed(floor.run("", "echo hi")))
            figures["run"].append(await timed(api.run(sid, "echo hi")))
        for _ in range(PROVISIONS // 2):
            figures["workspace"].append(await baselines.workspace_ms())
            started = time.perf_counter()
            # Limits other than the defaults: no warm sandbox fits, so this is a cold start.
            cold = (await api.post("/v2/sessions", {"requirements": {"runtime": "shell", "memory_mb": 1024}}))
            figures["cold"].append((time.perf_counter() - started) * 1000)
            await api.delete(cold["session_id"])

        figures["first_cell"], figures["cell"] = await cells(api)

        provisions, created = [], []
        for _ in range(PROVISIONS):
            started = time.perf_counter()
            created.append(await api.session())
            provisions.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.05)  # a caller's pace; the warm pool refills meanwhile
        figures["provision"] = provisions
        await asyncio.gather(*(api.delete(s) for s in created))

        first_commands = []
        for _ in range(PROVISIONS):
            started = time.perf_counter()
            new = await api.session()
            await api.run(new, "echo hi")
            first_commands.append((time.perf_counter() - started) * 1000)
            await api.delete(new)
            await asyncio.sleep(0.05)
        figures["first_command"] = first_commands

        first_bytes = []
        for _ in range(STREAMS):
            started = time.perf_counter()
            async with http.post(f"{base}/v2/sessions/{sid}/run/stream", json={"code": "echo hi"},
                                 headers={"Authorization": f"Bearer {api.key}"}) as r:
                async for line in r.content:
                    if line.startswith(b"data:"):
                        first_bytes.append((time.perf_counter() - started) * 1000)
                        break
                await r.read()
        figures["stream_first_byte"] = first_bytes
        figures["streams"] = await concurrent_streams(api)
        figures["floor_streams"] = await concurrent_streams(floor)

        figures["throughput"] = await throughput(api)
        figures["floor_throughput"] = await throughput(floor)
        await api.delete(sid)
        return figures


async def cells(api: Client) -> tuple[list[float], list[float]]:
    """The persistent Python context: a sandbox's first cell (the kernel
    starts) and warm cells after it."""
    first, warm = [], []
    for _ in range(3):
        sandbox = (await api.post("/v2/sandbox", {}))["sandbox_id"]
        first.append(await timed(api.post(f"/v2/sandbox/{sandbox}/cells", {"code": "x = 1"})))
        for _ in range(RUNS // 3):
            warm.append(await timed(api.post(f"/v2/sandbox/{sandbox}/cells", {"code": "x += 1"})))
        async with api.http.delete(f"{api.base}/v2/sandbox/{sandbox}", headers={"Authorization": f"Bearer {api.key}"}):
            pass
    return first, warm


async def throughput(api) -> tuple[float, int, float]:
    """SESSIONS sessions running COMMANDS commands each, all at once: runs
    per second, errors, seconds."""
    sessions = await asyncio.gather(*(api.session() for _ in range(SESSIONS)))
    errors = 0

    async def worker(session_id: str) -> None:
        nonlocal errors
        for i in range(COMMANDS):
            try:
                out = await api.run(session_id, f"echo {i}")
                if out["result"]["stdout"] != f"{i}\n":
                    errors += 1
            except (RuntimeError, aiohttp.ClientError):
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(s) for s in sessions))
    elapsed = time.perf_counter() - started
    await asyncio.gather(*(api.delete(s) for s in sessions))
    return SESSIONS * COMMANDS / elapsed, errors, elapsed


async def replicated(base: str) -> dict:
    """The concurrent figures again on a stack with two replicas of sessions
    and compute."""
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=300)) as http:
        anon = Client(http, base)
        api = Client(http, base, (await anon.post("/v2/auth/login", {"email": "bench@example.com"}))["api_key"])
        return {"streams": await concurrent_streams(api), "throughput": await throughput(api)}


async def concurrent_streams(api) -> tuple[list[float], int]:
    """CONCURRENT_STREAMS streams of TRICKLE at once over STREAM_SESSIONS
    sessions: first-byte latency of each, and how many did not complete."""
    sessions = await asyncio.gather(*(api.session() for _ in range(STREAM_SESSIONS)))
    first, incomplete = [], 0

    async def stream(session_id: str) -> None:
        nonlocal incomplete
        started, lines = time.perf_counter(), []
        try:
            async with api.stream(session_id, TRICKLE) as r:
                async for line in r.content:
                    if line.startswith(b"data:"):
                        if not lines:
                            first.append((time.perf_counter() - started) * 1000)
                        lines.append(line)
            if not any(b'"exit"' in line for line in lines):
                incomplete += 1
        except aiohttp.ClientError:
            incomplete += 1

    await asyncio.gather(*(stream(sessions[i % STREAM_SESSIONS]) for i in range(CONCURRENT_STREAMS)))
    await asyncio.gather(*(api.delete(s) for s in sessions))
    return first, incomplete


class Spans(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP trace receiver: what the stack exports, span by span."""

    def __init__(self):
        self.by_trace: dict[bytes, list[tuple[str, str, int, int]]] = collections.defaultdict(list)

    def Export(self, request, context):
        for resource_spans in request.resource_spans:
            service = next((a.value.string_value for a in resource_spans.resource.attributes
                            if a.key == "service.name"), "?").removeprefix("cerver-")
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    self.by_trace[span.trace_id].append(
                        (service, span.name, span.start_time_unix_nano, span.end_time_unix_nano))
        return trace_service_pb2.ExportTraceServiceResponse()

    def timeline(self) -> list[tuple[float, float, str, str]]:
        """Per span of a /run (those in at least half of the runs' traces):
        median start after the request arrived, median duration, in ms."""
        runs = [spans for spans in self.by_trace.values() if any(name == "session.exec" for _, name, _, _ in spans)]
        seen = collections.defaultdict(list)
        for spans in runs:
            arrived = min(start for _, _, start, _ in spans)
            for service, name, start, end in spans:
                seen[(service, name)].append(((start - arrived) / 1e6, (end - start) / 1e6))
        return sorted((statistics.median(s for s, _ in v), statistics.median(d for _, d in v), service, name)
                      for (service, name), v in seen.items() if len(v) >= len(runs) / 2)


def where_time_goes(tmp: pathlib.Path) -> list[tuple[float, float, str, str]]:
    """TRACED_RUNS sequential /runs on a stack that exports its spans here."""
    receiver = Spans()
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    otlp = free_port()
    server.add_insecure_port(f"127.0.0.1:{otlp}")
    server.start()
    port = free_port()
    stack = start_stack(tmp, port, OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{otlp}",
                        OTEL_EXPORTER_OTLP_INSECURE="true", OTEL_METRICS_EXPORTER="none")
    try:
        asyncio.run(traced_runs(f"http://127.0.0.1:{port}"))
    finally:
        stack.send_signal(signal.SIGTERM)  # the services export what they hold as they stop
        stack.wait(timeout=30)
        server.stop(None)
    return receiver.timeline()


async def traced_runs(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        api = Client(http, base)
        api.key = (await api.post("/v2/auth/login", {"email": "bench@example.com"}))["api_key"]
        sid = await api.session()
        for _ in range(TRACED_RUNS):
            await api.run(sid, "echo hi")
        await api.delete(sid)


def report(f: dict) -> None:
    floor, first, iso = (statistics.median(f[k]) for k in ("plain", "first_wave", "isolated"))
    r50, r95 = pct(f["run"], 0.5), pct(f["run"], 0.95)
    p50, p95 = pct(f["provision"], 0.5), pct(f["provision"], 0.95)
    c50, c95 = pct(f["cold"], 0.5), pct(f["cold"], 0.95)
    w50 = pct(f["workspace"], 0.5)
    s50, s95 = pct(f["stream_first_byte"], 0.5), pct(f["stream_first_byte"], 0.95)
    f50, f95 = pct(f["first_command"], 0.5), pct(f["first_command"], 0.95)
    firsts, incomplete = f["streams"]
    m50, m95 = (pct(firsts, 0.5), pct(firsts, 0.95)) if firsts else (float("nan"), float("nan"))
    rate, errors, elapsed = f["throughput"]
    r_firsts, r_incomplete = f["replicated"]["streams"]
    r_m50, r_m95 = (pct(r_firsts, 0.5), pct(r_firsts, 0.95)) if r_firsts else (float("nan"), float("nan"))
    r_rate, r_errors, r_elapsed = f["replicated"]["throughput"]
    fl50, fl95 = pct(f["floor"], 0.5), pct(f["floor"], 0.95)
    fl_firsts, fl_incomplete = f["floor_streams"]
    fm50, fm95 = (pct(fl_firsts, 0.5), pct(fl_firsts, 0.95)) if fl_firsts else (float("nan"), float("nan"))
    fl_rate, fl_errors, fl_elapsed = f["floor_throughput"]

    def mark(ok: bool) -> str:
        return "ok  " if ok else "MISS"

    def line(name: str, values: list[float]) -> str:
        return f"  {name:<48}p50 {pct(values, 0.5):7.2f} ms   p95 {pct(values, 0.95):7.2f} ms"

    print(f"""
Cerver benchmark ({os.cpu_count()} cores)
{line("baseline: plain posix_spawn of `echo hi`", f["plain"])}
{line("baseline: fresh sandbox, first wave's isolation", f["first_wave"])}
{line("baseline: fresh sandbox, today's isolation", f["isolated"])}   {iso / first:5.2f}x first wave
  REST /run `echo hi` on a ready session          p50 {r50:7.2f} ms   p95 {r95:7.2f} ms   ratio p50 {r50 / floor:5.2f}x plain, {r50 / iso:5.2f}x fresh sandbox  [{mark(r50 <= 3 * floor and r50 <= 0.6 * iso)} target <= 3x plain and <= 0.6x fresh sandbox]
  persistent context: warm cell `x += 1`          p50 {pct(f["cell"], 0.5):7.2f} ms   p95 {pct(f["cell"], 0.95):7.2f} ms   ratio p50 {pct(f["cell"], 0.5) / r50:5.2f}x a plain /run
  persistent context: first cell (kernel start)   p50 {pct(f["first_cell"], 0.5):7.2f} ms   p95 {pct(f["first_cell"], 0.95):7.2f} ms
  session create, warm pool (provision)           p50 {p50:7.2f} ms   p95 {p95:7.2f} ms   [{mark(p50 < 50)} target p50 < 50 ms]
  create -> first command                         p50 {f50:7.2f} ms   p95 {f95:7.2f} ms   [{mark(f50 <= 15)} target p50 <= 15 ms]
  session create, cold (image, cgroups, sandbox)  p50 {c50:7.2f} ms   p95 {c95:7.2f} ms   of which workspace image p50 {w50:6.2f} ms
  stream first byte                               p50 {s50:7.2f} ms   p95 {s95:7.2f} ms   ratio p50 {s50 / iso:5.2f}x fresh sandbox
  {CONCURRENT_STREAMS} streams at once over {STREAM_SESSIONS} sessions, first byte    p50 {m50:7.2f} ms   p95 {m95:7.2f} ms   incomplete {incomplete}  [{mark(m50 <= 50 and incomplete == 0)} target p50 <= 50 ms, all complete]
  {SESSIONS} sessions x {COMMANDS} commands, concurrent        {rate:7.1f} runs/s  ({elapsed:.2f} s)   errors {errors}  [{mark(rate >= 600 and errors == 0)} target >= 600 runs/s, 0 errors]
  two replicas of sessions and compute:
    {CONCURRENT_STREAMS} streams at once, first byte                  p50 {r_m50:7.2f} ms   p95 {r_m95:7.2f} ms   incomplete {r_incomplete}  [{mark(r_incomplete == 0)} all complete]
    {SESSIONS} sessions x {COMMANDS} commands, concurrent      {r_rate:7.1f} runs/s  ({r_elapsed:.2f} s)   errors {r_errors}  [{mark(r_errors == 0)} target 0 errors]
  the shape's floor (bench/floor.py: a REST edge, two Python gRPC hops and a spawn; no key, database, isolation or telemetry):
    REST /run `echo hi`                             p50 {fl50:7.2f} ms   p95 {fl95:7.2f} ms   ratio p50 {fl50 / floor:5.2f}x plain  [{mark(fl50 <= 3 * floor)} <= 3x plain]
    {CONCURRENT_STREAMS} streams at once, first byte                  p50 {fm50:7.2f} ms   p95 {fm95:7.2f} ms   incomplete {fl_incomplete}  [{mark(fm50 <= 50)} p50 <= 50 ms]
    {SESSIONS} sessions x {COMMANDS} commands, concurrent      {fl_rate:7.1f} runs/s  ({fl_elapsed:.2f} s)   errors {fl_errors}  [{mark(fl_rate >= 600)} >= 600 runs/s]
    the stack against its floor: /run p50 {r50 / fl50:4.2f}x, {CONCURRENT_STREAMS}-stream first byte p50 {m50 / fm50:4.2f}x, runs/s {rate / fl_rate:4.2f}x
  where a REST /run's time goes ({TRACED_RUNS} runs on a stack exporting its spans, which costs time too;
  median start after the request arrived, median duration):""")
    for start, duration, service, name in f["timeline"]:
        print(f"    +{start:6.2f} ms  {duration:6.2f} ms  {service:<9} {name}")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cerver-bench-") as tmp:
        tmp_path = pathlib.Path(tmp)
        port = free_port()
        stack = start_stack(tmp_path, port)
        try:
            figures = asyncio.run(_measure(f"http://127.0.0.1:{port}", tmp_path))
        finally:
            stack.send_signal(signal.SIGTERM)
            stack.wait(timeout=30)
        port = free_port()
        stack = start_stack(tmp_path, port, replicas=2)
        try:
            figures["replicated"] = asyncio.run(replicated(f"http://127.0.0.1:{port}"))
        finally:
            stack.send_signal(signal.SIGTERM)
            stack.wait(timeout=30)
        figures["timeline"] = where_time_goes(tmp_path)
        report(figures)


async def _measure(base: str, tmp: pathlib.Path) -> dict:
    baselines = Baselines(tmp)
    await baselines.start()
    try:
        with Floor() as floor_base:
            return await measure(base, baselines, floor_base)
    finally:
        await baselines.close()


if __name__ == "__main__":
    main()
