"""Configuration from environment variables, read in one place.

Peers are found by `CERVER_<SERVICE>_ADDR` (host:port); a service listens on
`CERVER_LISTEN_ADDR`, falling back to its own `CERVER_<SERVICE>_ADDR`.
"""
import os
import pathlib

# The control plane: stateless gRPC services over the database.
SERVICES = ("auth", "sessions", "router", "compute", "relay")
# The node runtime: a machine's sandboxes (one per machine; not a replica set).
NODE = "node"
# What a service accepts in one gRPC message, and what it may answer: requests
# stay small; an answer may carry a whole transcript (?full=1 of 100 MB).
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_REPLY_BYTES = 1 << 30
# Deadlines of internal calls: a run's is its own timeout plus this grace
# (the sandbox ends it at the timeout; the grace covers the way back); any
# other sandbox call gets CALL_TIMEOUT_S, a create CREATE_TIMEOUT_S.
RUN_GRACE_S = 15.0
RUN_TIMEOUT_S = 300.0  # a run's timeout when it names none
CALL_TIMEOUT_S = 60.0
CREATE_TIMEOUT_S = 120.0
DEFAULT_PORTS = {"auth": 50051, "sessions": 50052, "router": 50053, "compute": 50054, "relay": 50055, "node": 50056}


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def peer_addr(service: str) -> str:
    return env(f"CERVER_{service.upper()}_ADDR", f"127.0.0.1:{DEFAULT_PORTS[service]}")


def listen_addr(service: str) -> str:
    return env("CERVER_LISTEN_ADDR") or env(f"CERVER_{service.upper()}_ADDR", f"[::]:{DEFAULT_PORTS[service]}")


def relay_ws_addr() -> str:
    """Where the relay accepts agent WebSockets (the edges proxy /v2/connect/ws there)."""
    return env("CERVER_RELAY_WS_ADDR", "127.0.0.1:8091")


def data_dir() -> pathlib.Path:
    """Where the embedded default keeps its databases, keys and workspaces:
    readable by the user that runs Cerver only."""
    path = pathlib.Path(env("CERVER_DATA_DIR", ".cerver/default")).resolve()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def service_token() -> str:
    """Shared secret that services present to each other for internal RPCs
    and for work done on an account's behalf without a user request."""
    return env("CERVER_SERVICE_TOKEN")


def open_signup() -> bool:
    return env_bool("CERVER_OPEN_SIGNUP", True)


def db_pool() -> dict:
    """Connections each engine of a process may hold on PostgreSQL (a process
    has two engines: asyncio and a worker thread's): CERVER_DB_POOL_SIZE
    (default 10) plus CERVER_DB_MAX_OVERFLOW (default 20) each."""
    return {"pool_size": int(env("CERVER_DB_POOL_SIZE", "10")),
            "max_overflow": int(env("CERVER_DB_MAX_OVERFLOW", "20"))}
