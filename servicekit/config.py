"""Configuration: the project's fixed rules (constants) and the settings
each process reads from its environment (Settings), in one place.

Peers are found by `CERVER_<SERVICE>_ADDR` (host:port); a service listens on
`CERVER_LISTEN_ADDR`, falling back to its own `CERVER_<SERVICE>_ADDR`.
"""
import dataclasses
import os
import pathlib
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

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
# The REST edges' own limits (gateway/envoy.yaml's max_request_body_size and
# max_response_body_size are these; a test holds them equal): a JSON request
# body, and a JSON answer, which each edge holds whole while it transcodes
# (a 100 MB transcript fits; files larger than MAX_FILE_BYTES stream instead).
MAX_REQUEST_BODY_BYTES = 1 << 20
MAX_JSON_RESPONSE_BYTES = 256 << 20
PREVIEW_PORT = 3000  # a public preview's port when requirements name none (a dev server's usual)
TRANSFER_TIMEOUT_S = 3600.0  # a streamed file's deadline on internal hops, whatever its size
# A refused upload is read on (and dropped) this long before its status is
# sent: gRPC's Python client reports a status that lands while it is still
# sending as INTERNAL, losing the service's own (grpc/grpc#36066).
REFUSED_UPLOAD_DRAIN_S = 2.0
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


class Settings(BaseSettings):
    """Every variable a Cerver process reads, typed, with its default and
    what it does: the one definition (README, "Settings", is made from it;
    tests/test_settings.py holds the two equal). CERVER_ is each name's
    prefix unless it names another (OTEL_*, INFISICAL_*, vendors')."""

    model_config = SettingsConfigDict(env_prefix="CERVER_", extra="ignore", frozen=True)

    # Where each process is, and where it listens.
    listen_addr: str = Field("", description="Where this process serves gRPC (host:port); default: its own CERVER_<SERVICE>_ADDR")
    auth_addr: str = Field("", description="The auth service (host:port, or a gRPC target such as dns:///auth:50051; default 127.0.0.1:50051)")
    sessions_addr: str = Field("", description="The sessions service (default 127.0.0.1:50052)")
    router_addr: str = Field("", description="The router service (default 127.0.0.1:50053)")
    compute_addr: str = Field("", description="The compute service (default 127.0.0.1:50054)")
    relay_addr: str = Field("", description="The relay service (default 127.0.0.1:50055)")
    node_addr: str = Field("", description="The nodes, for compute: host:port, comma-separated; a name may resolve to several (a headless Service's pods; default 127.0.0.1:50056)")
    http_host: str = Field("127.0.0.1", description="The embedded REST edge's address")
    http_port: int = Field(8080, description="The embedded REST edge's port")
    public_url: str = Field("http://127.0.0.1:8080", description="Where users reach the API (device-flow and e-mail links)")
    relay_ws_addr: str = Field("127.0.0.1:8091", description="Where the relay accepts agents' WebSockets (the edges proxy /v2/connect/ws there)")
    relay_advertise_addr: str = Field("", description="The address other relay replicas reach this one at (default: its listen address)")
    relay_replica: str = Field("", description="This relay replica's name (default host:pid:address)")
    preview_addr: str = Field("", description="The embedded edge's public-preview listener (host:port); empty: none")
    preview_url: str = Field("", description="Where a public preview is reached, {label} for the first label of its host name (e.g. https://{label}.preview.example.com/); default: the preview listener under *.localhost")
    node_preview_addr: str = Field("", description="The node's preview listener (default: its gRPC host, a port of the system's choosing)")
    grpc_max_connection_age_s: float = Field(0.0, description="Servers close each client connection after this long (gracefully), so callers re-resolve a headless Service and reach new replicas; 0: never")
    # Data and secrets.
    data_dir: str = Field(".cerver/default", description="The embedded default's databases, keys and workspaces")
    database_url: str = Field("", description="PostgreSQL (postgresql://...) for every service; empty: SQLite under the data folder")
    db_pool_size: int = Field(10, description="Connections each of a process's two engines keeps on PostgreSQL")
    db_max_overflow: int = Field(20, description="Connections each engine may open beyond the pool")
    service_token: SecretStr = Field(SecretStr(""), description="Shared secret the services present to each other (internal RPCs)")
    secret_key: SecretStr = Field(SecretStr(""), description="Fernet key that encrypts stored provider credentials (auth)")
    secrets_backend: Literal["env", "infisical"] = Field("env", description="Where secret_fetch and model keys come from: this environment, or Infisical")
    open_signup: bool = Field(True, description="Anyone may sign up by e-mail (off: keys come from the device flow of existing accounts)")
    smtp_url: SecretStr = Field(SecretStr(""), description="smtp(s)://user:password@host:port for login e-mails; empty: a development mailbox")
    mail_from: str = Field("Cerver <no-reply@cerver.local>", description="The sender of login e-mails")
    # Sandboxes on a node.
    node_name: str = Field("", description="The machine a node runs on (default: the hostname); its id follows it")
    node_poll_s: float = Field(5.0, description="How often compute asks each node what it holds; silent for three polls = offline")
    node_wait_s: float = Field(60.0, description="How long compute waits at start for its nodes")
    max_sandboxes: int = Field(256, description="Sandboxes a node takes at once")
    heartbeat_window_s: int = Field(60, description="A relay machine silent this long is offline")
    reap_interval_s: float = Field(5.0, description="How often timeouts and idle sandboxes are swept")
    reconcile_interval_s: float = Field(30.0, description="How often sessions are checked against their compute")
    paused_retention_s: float = Field(7 * 24 * 3600.0, description="How long a paused session stays resumable")
    allow_unisolated: bool = Field(False, description="Run sandboxes WITHOUT isolation where the host cannot isolate them (never in production)")
    sandbox_uids: str = Field("", description="Host uids for sandboxes, first:count (default: /etc/subuid's range for cerver, else 1073741824:65536)")
    sandbox_runtime_dir: str = Field("", description="Where a node keeps what sandboxes bind (default /run/cerver/<name>)")
    # A whole run (both streams) travels as one message, within the relay's limit.
    sandbox_output_bytes: int = Field(1 << 20, gt=0, le=MAX_MESSAGE_BYTES // 4,
                                      description="Output a run keeps, per stream")
    sandbox_warm: int = Field(2, description="Sandboxes a node starts ahead of need")
    sandbox_idle_ttl_s: int = Field(1800, description="A /v2/sandbox sandbox unused this long is deleted")
    sandbox_pids: int = Field(1024, description="A sandbox's processes, by default")
    sandbox_memory_mb: int = Field(2048, description="A sandbox's memory, by default (its /tmp counts here; no swap)")
    sandbox_cpus: float = Field(1.0, description="A sandbox's CPUs, by default")
    sandbox_disk_mb: int = Field(10240, description="A sandbox's workspace (a hard quota), by default")
    sandbox_tmp_mb: int = Field(0, description="A sandbox's /tmp, by default (0: half its memory)")
    sandbox_max_pids: int | None = Field(None, description="The most processes a session may ask for (default max(4096, the default))")
    sandbox_max_memory_mb: int | None = Field(None, description="The most memory a session may ask for (default max(8192, the default))")
    sandbox_max_cpus: float | None = Field(None, description="The most CPUs a session may ask for (default: the machine's)")
    sandbox_max_disk_mb: int | None = Field(None, description="The most workspace a session may ask for (default max(51200, the default))")
    sandbox_max_tmp_mb: int | None = Field(None, description="The most /tmp a session may ask for (default: its memory)")
    pip_index_url: str = Field("", description="The package index sandboxes install Python packages from (default PyPI)")
    npm_registry: str = Field("", description="The registry sandboxes install npm packages from (default npmjs)")
    sandbox_egress_deny: str = Field(
        "0.0.0.0/8,10.0.0.0/8,100.64.0.0/10,127.0.0.0/8,169.254.0.0/16,172.16.0.0/12,192.168.0.0/16,"
        "198.18.0.0/15,224.0.0.0/4,240.0.0.0/4",
        description="Networks a sandbox with network may not reach (comma-separated CIDRs; the host's own addresses never)")
    sandbox_egress_allow: str = Field("", description="Exceptions to that: CIDRs, or host:port (the package mirrors are already)")
    # Per-account limits.
    quota_sandboxes: int = Field(100, description="Live sandboxes per account")
    quota_runs: int = Field(256, description="Runs in flight per account")
    quota_sessions_with_compute: int = Field(100, description="Sessions holding a sandbox per account")
    quota_watches: int = Field(64, description="Session watches (/watch streams) open at once per account, per sessions replica")
    rate_limit_storage: str = Field("memory://", description="Where rate-limit counters live (memory://, redis://...)")
    rate_login: str = Field("10/minute", description="E-mail logins and code checks per address and per client")
    rate_device: str = Field("60/minute", description="Device-flow starts and polls per client")
    rate_auth_failures: str = Field("30/minute", description="Failed key authentications per client")
    rate_key: str = Field("6000/minute", description="Requests per API key")
    stress_wait_s: float = Field(30.0, description="How long a router stress test waits for its result")
    # The agent surface.
    llm_timeout_s: float = Field(300.0, description="A model turn's timeout per vendor request (run-llm)")
    mcp_secret_accounts: str = Field("", description="Accounts (ids, comma-separated) that may call secret_fetch over /mcp; empty: nobody")
    api_url: str = Field("", description="cerver, cerver-mcp, cerver relay: the API (default http://127.0.0.1:8080)")
    api_token: SecretStr = Field(SecretStr(""), description="cerver, cerver-mcp, cerver relay: an API key (ck_...)")
    relay_state: str = Field("", description="cerver relay: its state file (default ~/.config/cerver/relay.json)")
    dev_replicas: int = Field(1, description="cerver dev: processes of sessions and compute each")
    supervisor_pid: int = Field(0, description="Set by cerver dev: its children stop with it")
    # The kubernetes provider (deploy/k8s/README.md).
    k8s_warmpool: str = Field("", description="The SandboxWarmPool claims are made against; set: the kubernetes provider is on")
    k8s_namespace: str = Field("default", description="The sandboxes' namespace")
    k8s_router_url: str = Field("", description="The cluster's sandbox-router (http://sandbox-router-svc.<namespace>.svc.cluster.local:8080)")
    k8s_server_port: int = Field(8888, description="Where the runtime listens in each sandbox pod")
    k8s_runtimes: str = Field("shell,python", description="What the warm pool's image runs, comma-separated")
    k8s_ready_timeout_s: float = Field(CREATE_TIMEOUT_S, description="How long a claim may take to be ready")
    k8s_max_sandboxes: int = Field(0, description="Sandboxes the provider holds at once (0: CERVER_MAX_SANDBOXES)")
    kubeconfig: str = Field("", validation_alias="KUBECONFIG", description="The cluster's credentials outside a pod (inside: the service account's)")
    # Cloud providers (an account enables one with its own credentials). The
    # vendors' endpoints are the deployment's to set (a self-hosted E2B, a
    # proxy); an account never points compute at an address of its choosing,
    # except its own Cloudflare Worker, which must be public https.
    cloud_providers: SecretStr = Field(SecretStr(""), description="Cloud providers every account may use, with the deployment's credentials: JSON {provider: {name: value}}")
    cloud_timeout_s: float = Field(30.0, description="How long a cloud provider's API call may take (a create: up to 120 s)")
    cloud_private_urls: bool = Field(False, description="Accounts' Worker URLs may be http and private addresses (tests, never production)")
    e2b_api_url: str = Field("", description="E2B's control-plane API (default https://api.e2b.app, as the e2b SDK has it)")
    e2b_sandbox_url: str = Field("", description="E2B's sandbox (envd) endpoint (default: the SDK's per-sandbox host)")
    daytona_api_url: str = Field("https://app.daytona.io/api", description="Daytona's API")
    vercel_api_url: str = Field("https://vercel.com/api", description="Vercel's REST API")
    modal_server_url: str = Field("https://api.modal.com", description="Modal's API server (the modal SDK's server_url)")
    # Others' names, read here too.
    otel_exporter_otlp_endpoint: str = Field("", validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT", description="OTLP receiver for traces and metrics (the other OTEL_EXPORTER_OTLP_* as the SDK reads them)")
    otel_exporter_otlp_protocol: Literal["grpc", "http/protobuf"] = Field("grpc", validation_alias="OTEL_EXPORTER_OTLP_PROTOCOL", description="grpc or http/protobuf")
    otel_traces_sampler: str = Field("", validation_alias="OTEL_TRACES_SAMPLER", description="Which traces are exported (OTEL_TRACES_SAMPLER_ARG too); metrics never depend on it")
    otel_metrics_exporter: str = Field("", validation_alias="OTEL_METRICS_EXPORTER", description="otlp, prometheus, none (comma-separated; default otlp when an endpoint is set)")
    otel_exporter_prometheus_host: str = Field("localhost", validation_alias="OTEL_EXPORTER_PROMETHEUS_HOST", description="The Prometheus scrape endpoint's address")
    otel_exporter_prometheus_port: int = Field(9464, validation_alias="OTEL_EXPORTER_PROMETHEUS_PORT", description="The Prometheus scrape endpoint's port (cerver dev: one per process, printed)")
    infisical_api_url: str = Field("https://app.infisical.com", validation_alias="INFISICAL_API_URL", description="Infisical (CERVER_SECRETS_BACKEND=infisical)")
    infisical_project_id: str = Field("", validation_alias="INFISICAL_PROJECT_ID", description="Infisical's project")
    infisical_environment: str = Field("prod", validation_alias="INFISICAL_ENVIRONMENT", description="Infisical's environment slug")
    infisical_secret_path: str = Field("/", validation_alias="INFISICAL_SECRET_PATH", description="Infisical's folder")
    infisical_token: SecretStr = Field(SecretStr(""), validation_alias="INFISICAL_TOKEN", description="An Infisical access token (or universal auth below)")
    infisical_client_id: str = Field("", validation_alias="INFISICAL_CLIENT_ID", description="Infisical universal auth: the machine identity's client id")
    infisical_client_secret: SecretStr = Field(SecretStr(""), validation_alias="INFISICAL_CLIENT_SECRET", description="Infisical universal auth: its client secret")
    xai_base_url: str = Field("https://api.x.ai/v1", validation_alias="XAI_BASE_URL", description="xAI's API (run-llm; ANTHROPIC_/OPENAI_BASE_URL as their SDKs read them)")

    def addr(self, service: str) -> str:
        return getattr(self, f"{service}_addr") or f"127.0.0.1:{DEFAULT_PORTS[service]}"


_cached: tuple[int, Settings] | None = None


def default(name: str):
    """A setting's default, for the tables that name it (limits, quotas, rates)."""
    return Settings.model_fields[name].default


class SettingsError(ValueError):
    """A variable whose value its setting cannot take; the message names the
    variable and what it takes, never the value (it may be a secret)."""


def variable(field: str) -> str:
    """The environment variable of a setting."""
    return Settings.model_fields[field].validation_alias or f"CERVER_{field.upper()}"


def settings() -> Settings:
    """This process's settings, read from the environment: once, and again
    only if the environment changes (tests change it; a service does not)."""
    global _cached
    # os.environ's own mapping: hashing it is far cheaper than os.environ.items().
    key = hash(frozenset(os.environ._data.items()))
    if _cached is None or _cached[0] != key:
        try:
            _cached = (key, Settings())
        except ValidationError as exc:
            raise SettingsError("; ".join(f"{variable(str(e['loc'][0]))}: {e['msg']}" for e in exc.errors())) from None
    return _cached[1]


def peer_addr(service: str) -> str:
    return settings().addr(service)


def listen_addr(service: str) -> str:
    current = settings()
    return current.listen_addr or getattr(current, f"{service}_addr") or f"[::]:{DEFAULT_PORTS[service]}"


def node_addrs() -> list[str]:
    """Where the compute service finds this deployment's nodes (CERVER_NODE_ADDR)."""
    return [a.strip() for a in peer_addr(NODE).split(",") if a.strip()]


def mcp_secret_accounts() -> set[str]:
    """The accounts that may call secret_fetch over the edge's /mcp, which
    reads the deployment's own backend: its operators."""
    return {a.strip() for a in settings().mcp_secret_accounts.split(",") if a.strip()}


def preview_url_template() -> str:
    """Where a public preview is reached, with {label} for the first label
    of its host name: CERVER_PREVIEW_URL (a wildcard name that leads to the
    preview listener), else the embedded edge's listener under *.localhost,
    which browsers resolve to this machine; empty: no previews here."""
    current = settings()
    if current.preview_url or not current.preview_addr:
        return current.preview_url
    return f"http://{{label}}.preview.localhost:{current.preview_addr.rpartition(':')[2]}/"


def node_preview_addr(grpc_address: str) -> str:
    """Where the node's preview listener listens: by default on the host of
    its gRPC address, on a port of the system's choosing (the node reports
    it; compute reaches it on the node's host)."""
    return settings().node_preview_addr or f"{grpc_address.rpartition(':')[0]}:0"


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
    current = settings()
    if not current.k8s_warmpool:
        return None
    if not current.k8s_router_url:
        raise SystemExit("CERVER_K8S_WARMPOOL is set: CERVER_K8S_ROUTER_URL must name the cluster's sandbox-router "
                         "(e.g. http://sandbox-router-svc.<namespace>.svc.cluster.local:8080)")
    return KubernetesSettings(
        warmpool=current.k8s_warmpool, namespace=current.k8s_namespace, router_url=current.k8s_router_url,
        server_port=current.k8s_server_port,
        runtimes=tuple(r.strip() for r in current.k8s_runtimes.split(",") if r.strip()),
        ready_timeout_s=current.k8s_ready_timeout_s, max_sandboxes=current.k8s_max_sandboxes)


def package_index_env() -> dict[str, str]:
    """Where a node's package installs download from, as pip's and npm's own
    environment (unset: PyPI and npmjs). A plain-HTTP index is trusted by
    name (a mirror on the deployment's network)."""
    current, out = settings(), {}
    if current.pip_index_url:
        out["PIP_INDEX_URL"] = current.pip_index_url
        if current.pip_index_url.startswith("http://"):
            out["PIP_TRUSTED_HOST"] = current.pip_index_url.split("/")[2].split(":")[0]
    if current.npm_registry:
        out["NPM_CONFIG_REGISTRY"] = current.npm_registry
    return out


def data_dir() -> pathlib.Path:
    """Where the embedded default keeps its databases, keys and workspaces:
    readable by the user that runs Cerver only."""
    path = pathlib.Path(settings().data_dir).resolve()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def service_token() -> str:
    """Shared secret that services present to each other for internal RPCs
    and for work done on an account's behalf without a user request."""
    return settings().service_token.get_secret_value()


def db_pool() -> dict:
    """Connections each engine of a process may hold on PostgreSQL (a process
    has two engines: asyncio and a worker thread's)."""
    return {"pool_size": settings().db_pool_size, "max_overflow": settings().db_max_overflow}


def table() -> str:
    """The README's settings table (python -m servicekit.config prints it)."""
    rows = ["| Variable | Type | Default | What it sets |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        kind = getattr(field.annotation, "__name__", str(field.annotation)).replace("typing.", "")
        if kind == "Literal":
            kind = " \\| ".join(field.annotation.__args__)
        value = field.default.get_secret_value() if isinstance(field.default, SecretStr) else field.default
        shown = f"`{value}`" if value not in ("", None) else ""
        kind = {"SecretStr": "secret", "int | None": "int", "float | None": "float"}.get(kind, kind)
        rows.append(f"| `{variable(name)}` | {kind} | {shown} | {field.description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
