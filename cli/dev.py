"""`cerver dev`: the whole stack on this host — five gRPC services and the
REST edge as separate processes, SQLite under the data folder, local sandbox
compute — until Ctrl-C or SIGTERM, which stop every process it started."""
import os
import pathlib
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from servicekit import config
from servicekit.config import NODE, SERVICES

CHECKOUT = pathlib.Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60
MODULES = {**{service: f"services.{service}" for service in (*SERVICES, NODE)}, "edge": "gateway"}
REPLICATED = ("sessions", "compute")  # stateless, on the data path: CERVER_DEV_REPLICAS of each


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stack_env(http_port: int, data_dir: pathlib.Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "CERVER_HTTP_PORT": str(http_port),
        "CERVER_DATA_DIR": str(data_dir),
        "CERVER_PUBLIC_URL": env.get("CERVER_PUBLIC_URL", f"http://127.0.0.1:{http_port}"),
        "CERVER_SERVICE_TOKEN": env.get("CERVER_SERVICE_TOKEN") or secrets.token_urlsafe(32),
        "CERVER_OPEN_SIGNUP": env.get("CERVER_OPEN_SIGNUP", "1"),
        # Its children stop with it even if it is killed outright (servicekit.server).
        "CERVER_SUPERVISOR_PID": str(os.getpid()),
        # compute forks sandboxes beside gRPC threads; grpc's fork handlers
        # are for forks that keep using gRPC, which these never do.
        "GRPC_ENABLE_FORK_SUPPORT": "false",
    })
    for service in (*SERVICES, NODE):
        # Free ports, so that stacks on different HTTP ports never collide.
        env[f"CERVER_{service.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
    env["CERVER_RELAY_WS_ADDR"] = f"127.0.0.1:{free_port()}"
    env["CERVER_PREVIEW_ADDR"] = f"127.0.0.1:{free_port()}"
    env.pop("CERVER_LISTEN_ADDR", None)
    return env


def replicas() -> int:
    """CERVER_DEV_REPLICAS: how many processes of each stateless service of
    the data path (sessions, compute) `cerver dev` runs; callers balance
    over them (round robin, servicekit.peers)."""
    return max(1, config.settings().dev_replicas)


def processes(env: dict[str, str], count: int) -> dict[str, tuple[str, str]]:
    """Every process of the stack: name -> (module, the address it serves).
    Replicas of a service get a port each, and the service's address
    becomes a gRPC target naming them all (ipv4:host:port,host:port)."""
    out = {}
    for service in ("auth", *(s for s in (*SERVICES, NODE) if s != "auth")):
        key = f"CERVER_{service.upper()}_ADDR"
        copies = count if service in REPLICATED else 1
        addresses = [env[key]] + [f"127.0.0.1:{free_port()}" for _ in range(copies - 1)]
        for i, address in enumerate(addresses):
            out[service if i == 0 else f"{service}-{i + 1}"] = (MODULES[service], address)
        if copies > 1:
            env[key] = "ipv4:" + ",".join(addresses)
    out["edge"] = (MODULES["edge"], "")
    return out


def wait_healthy(address: str, deadline: float, proc: subprocess.Popen) -> None:
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"exited with code {proc.returncode}")
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise RuntimeError("did not become healthy in time")


def wait_http(url: str, deadline: float, proc: subprocess.Popen) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with code {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError("did not answer in time")


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free to us
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


RESTART_BACKOFF_S = (0.5, 1, 2, 4, 8, 15, 30)  # after successive crashes; reset once a process stays up
STAYED_UP_S = 60


class Stack:
    def __init__(self, env: dict[str, str], count: int = 1):
        self.env = env
        self.plan = processes(env, count)
        self.procs: dict[str, subprocess.Popen] = {}
        self.crashes: dict[str, int] = {}  # successive crashes of each process
        self.started_at: dict[str, float] = {}
        self.restart_at: dict[str, float] = {}  # when a crashed process is started again
        # Each process's Prometheus scrape endpoint, when asked for: one
        # host, so a port each (a pod each has its own address).
        wanted = "prometheus" in env.get("OTEL_METRICS_EXPORTER", "")
        self.metrics_ports = {name: free_port() for name in self.plan} if wanted else {}

    def spawn(self, name: str) -> subprocess.Popen:
        module, address = self.plan[name]
        env = {**self.env, "CERVER_LISTEN_ADDR": address} if address else dict(self.env)
        if name in self.metrics_ports:
            env["OTEL_EXPORTER_PROMETHEUS_PORT"] = str(self.metrics_ports[name])
        proc = subprocess.Popen([sys.executable, "-m", module], cwd=CHECKOUT, env=env)
        self.procs[name] = proc
        self.started_at[name] = time.monotonic()
        return proc

    def start(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        # Auth first: every other service authenticates through it.
        # The node runtime too: the local compute's sandboxes live in it.
        services = [name for name in self.plan if name != "edge"]
        self.spawn("auth")
        self._healthy("auth", deadline)
        for name in services[1:]:
            self.spawn(name)
        for name in services[1:]:
            self._healthy(name, deadline)
        edge = self.spawn("edge")
        try:
            wait_http(f"http://127.0.0.1:{self.env['CERVER_HTTP_PORT']}/", deadline, edge)
        except RuntimeError as exc:
            raise RuntimeError(f"edge {exc}") from None

    def _healthy(self, name: str, deadline: float) -> None:
        try:
            wait_healthy(self.plan[name][1], deadline, self.procs[name])
        except RuntimeError as exc:
            raise RuntimeError(f"{name} {exc}") from None

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 10
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def watch(self, stopping) -> int:
        """Until a signal: a process that exits (crashed, killed, or even a
        clean exit) is started again, after a backoff that grows with
        successive crashes. Meanwhile the edge answers its callers with a
        retryable 503."""
        while not stopping():
            clock = time.monotonic()
            for name, proc in list(self.procs.items()):
                if proc.poll() is None:
                    if clock - self.started_at[name] > STAYED_UP_S:
                        self.crashes[name] = 0
                    continue
                if name not in self.restart_at:
                    crashes = self.crashes.get(name, 0)
                    delay = RESTART_BACKOFF_S[min(crashes, len(RESTART_BACKOFF_S) - 1)]
                    self.crashes[name] = crashes + 1
                    self.restart_at[name] = clock + delay
                    print(f"cerver: {name} exited with code {proc.returncode}; restarting it in {delay:g} s",
                          file=sys.stderr, flush=True)
                elif clock >= self.restart_at[name]:
                    del self.restart_at[name]
                    self.spawn(name)
                    print(f"cerver: {name} restarted", file=sys.stderr, flush=True)
            time.sleep(0.2)
        return 0


def run() -> int:
    current = config.settings()
    http_port = current.http_port
    # Unset, a folder per port: stacks on different ports never share one.
    data_dir = pathlib.Path(current.data_dir if "data_dir" in current.model_fields_set
                            else CHECKOUT / ".cerver" / str(http_port)).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    host = current.http_host
    if port_in_use(host, http_port):
        print(f"cerver: port {http_port} on {host} is already in use (another `cerver dev`, or another server); "
              f"stop it or choose another port with CERVER_HTTP_PORT", file=sys.stderr)
        return 1
    stack = Stack(stack_env(http_port, data_dir), replicas())
    signalled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: signalled.append(True))
    try:
        stack.start()
    except (RuntimeError, OSError) as exc:
        print(f"cerver: could not start the stack: {exc}", file=sys.stderr)
        stack.stop()
        return 1
    base = f"http://127.0.0.1:{http_port}"
    print(f"""
Cerver is running at {base}   (data: {data_dir})

  Get an API key:
    curl -s -X POST {base}/v2/auth/login -H 'Content-Type: application/json' -d '{{"email": "you@example.com"}}'
  Then:
    export CERVER_API_TOKEN=ck_...
    curl -s -X POST {base}/v2/sessions -H "Authorization: Bearer $CERVER_API_TOKEN" \\
         -H 'Content-Type: application/json' -d '{{"session_name": "hello", "requirements": {{"runtime": "shell"}}}}'
  Dashboard: {base}/dashboard   ·   the command line: cerver login (then cerver run -- 'echo hi')
  API index: {base}/   ·   OpenAPI: {base}/v2/docs   ·   Ctrl-C stops everything.
  Public previews ("public_preview": true): http://<label>.preview.localhost:{stack.env["CERVER_PREVIEW_ADDR"].rpartition(":")[2]}/ (the session's preview_url)
""", flush=True)
    for name, port in stack.metrics_ports.items():
        print(f"  metrics of {name}: http://{stack.env.get('OTEL_EXPORTER_PROMETHEUS_HOST', 'localhost')}:{port}/metrics",
              flush=True)
    try:
        code = stack.watch(lambda: bool(signalled))
    finally:
        stack.stop()
    return code
