"""Configuration from environment variables, read in one place.

Peers are found by `CERVER_<SERVICE>_ADDR` (host:port); a service listens on
`CERVER_LISTEN_ADDR`, falling back to its own `CERVER_<SERVICE>_ADDR`.
"""
import dataclasses
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
# A streamed file travels in pieces of this size on every hop (Envoy's
# transcoder cuts a request body into pieces of 1 MiB too).
FILE_PIECE_BYTES = 1 << 20
# A file read or written whole in one JSON call (base64 in a message); larger
# files stream (/files/content).
MAX_FILE_BYTES = 8 << 20
PREVIEW_PORT = 3000  # a public preview's port when requirements name none (a dev server's usual)
TRANSFER_TIMEOUT_S = 3600.0  # a streamed file's deadline on internal hops, whatever its size
# Deadlines of internal calls: a run's is its own timeout plus this grace
# (the sandbox ends it at the timeout; the grace covers the way back); any
# other sandbox call gets CALL_TIMEOUT_S, a create CREATE_TIMEOUT_S.
RUN_GRACE_S = 15.0
RUN_TIMEOUT_S = 300.0  # a run's timeout when it names none
CALL_TIMEOUT_S = 60.0
CREATE_TIMEOUT_S = 120.0
INSTALL_TIMEOUT_S = 600.0  # a package install's own timeout
CELL_GRACE_S = 120.0  # a cell's grace: the kernel's start on a first cell, and its interrupt
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


def node_addrs() -> list[str]:
    """Where the compute service finds this deployment's nodes:
    CERVER_NODE_ADDR, host:port, comma-separated; a name may resolve to
    several (a headless Service's pods)."""
    return [a.strip() for a in peer_addr(NODE).split(",") if a.strip()]


def llm_timeout_s() -> float:
    """A model turn's timeout per vendor request (CERVER_LLM_TIMEOUT_S; the
    SDKs retry rate limits, timeouts and outages twice, with backoff)."""
    return env_float("CERVER_LLM_TIMEOUT_S", 300.0)


def mcp_secret_accounts() -> set[str]:
    """CERVER_MCP_SECRET_ACCOUNTS: the accounts (ids, comma-separated) that
    may call secret_fetch over the edge's /mcp, which reads the deployment's
    own backend: its operators. Empty: nobody."""
    return {a.strip() for a in env("CERVER_MCP_SECRET_ACCOUNTS").split(",") if a.strip()}


def preview_addr() -> str:
    """The embedded edge's preview listener (CERVER_PREVIEW_ADDR, host:port);
    empty: it serves none."""
    return env("CERVER_PREVIEW_ADDR")


def preview_url_template() -> str:
    """Where a public preview is reached, with {label} for the first label
    of its host name: CERVER_PREVIEW_URL (e.g. https://{label}.preview.example.com/,
    a wildcard name that leads to the preview listener), else the embedded
    edge's listener under *.localhost, which browsers resolve to this
    machine; empty: this deployment serves no previews."""
    template = env("CERVER_PREVIEW_URL")
    if template or not preview_addr():
        return template
    return f"http://{{label}}.preview.localhost:{preview_addr().rpartition(':')[2]}/"


def node_preview_addr(grpc_address: str) -> str:
    """Where the node's preview listener listens (CERVER_NODE_PREVIEW_ADDR):
    by default on the host of its gRPC address, on a port of the system's
    choosing (the node reports it; compute reaches it on the node's host)."""
    return env("CERVER_NODE_PREVIEW_ADDR") or f"{grpc_address.rpartition(':')[0]}:0"


def node_poll_s() -> float:
    """How often the compute service asks each node what it holds: the
    nodes' heartbeat. A node silent for three polls is offline."""
    return env_float("CERVER_NODE_POLL_S", 5.0)


def max_sandboxes() -> int:
    """How many sandboxes a node takes at once."""
    return int(env("CERVER_MAX_SANDBOXES", "256"))


@dataclasses.dataclass(frozen=True)
class KubernetesSettings:
    """The `kubernetes` provider: sandboxes as pods of kubernetes-sigs/agent-sandbox."""
    warmpool: str  # the SandboxWarmPool claims are made against
    namespace: str
    router_url: str  # the cluster's sandbox-router
    server_port: int  # where the runtime listens in each pod
    runtimes: tuple[str, ...]  # what the warm pool's image runs
    ready_timeout_s: float
    max_sandboxes: int  # 0: CERVER_MAX_SANDBOXES


def kubernetes() -> KubernetesSettings | None:
    """The provider is on when CERVER_K8S_WARMPOOL names a warm pool; the
    cluster's credentials are its service account's, else KUBECONFIG's."""
    warmpool = env("CERVER_K8S_WARMPOOL")
    if not warmpool:
        return None
    router = env("CERVER_K8S_ROUTER_URL")
    if not router:
        raise SystemExit("CERVER_K8S_WARMPOOL is set: CERVER_K8S_ROUTER_URL must name the cluster's sandbox-router "
                         "(e.g. http://sandbox-router-svc.<namespace>.svc.cluster.local:8080)")
    return KubernetesSettings(
        warmpool=warmpool, namespace=env("CERVER_K8S_NAMESPACE", "default"), router_url=router,
        server_port=int(env("CERVER_K8S_SERVER_PORT", "8888")),
        runtimes=tuple(r.strip() for r in env("CERVER_K8S_RUNTIMES", "shell,python").split(",") if r.strip()),
        ready_timeout_s=env_float("CERVER_K8S_READY_TIMEOUT_S", CREATE_TIMEOUT_S),
        max_sandboxes=int(env("CERVER_K8S_MAX_SANDBOXES", "0")))


def package_index_env() -> dict[str, str]:
    """Where a node's package installs download from: CERVER_PIP_INDEX_URL
    and CERVER_NPM_REGISTRY (unset: PyPI and npmjs), as pip's and npm's own
    environment. A plain-HTTP index is trusted by name (a mirror on the
    deployment's network)."""
    out = {}
    index = env("CERVER_PIP_INDEX_URL")
    if index:
        out["PIP_INDEX_URL"] = index
        if index.startswith("http://"):
            out["PIP_TRUSTED_HOST"] = index.split("/")[2].split(":")[0]
    if env("CERVER_NPM_REGISTRY"):
        out["NPM_CONFIG_REGISTRY"] = env("CERVER_NPM_REGISTRY")
    return out


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
