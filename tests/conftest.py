"""Fixtures: the five real gRPC services, the node runtime and the REST edge, started in this
process on free ports, over SQLite or a real PostgreSQL."""
import contextlib
import json
import os
import secrets
import uuid

import aiohttp
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from cli.dev import free_port
from gateway.edge import Edge
from gateway.previews import PreviewListener
from servicekit import config, peers, telemetry
from tests import pg

# Fixtures of their own modules: the package indexes (`indexes`), the model vendors (`vendors`).
pytest_plugins = ["tests.fakes.package_index", "tests.fakes.models"]

SPANS = InMemorySpanExporter()
telemetry.export_spans(SimpleSpanProcessor(SPANS))


@pytest.fixture(autouse=True)
def _spans_per_test():
    """The in-process services' spans (one per SQL statement too) kept for
    the test that reads them, not for the whole run."""
    SPANS.clear()
    yield
    SPANS.clear()


@pytest.fixture(scope="session")
def postgres_url():
    try:
        with pg.postgres() as url:
            yield url
    except (RuntimeError, OSError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI: {exc}")
        pytest.skip(f"no PostgreSQL here: {exc}")


class Api:
    """A small HTTP client for the edge."""

    def __init__(self, base: str, http: aiohttp.ClientSession):
        self.base = base
        self.http = http

    async def call(self, method: str, path: str, body=None, key: str | None = None, raw: bytes | None = None,
                   headers: dict | None = None):
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if key:
            hdrs["Authorization"] = f"Bearer {key}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        async with self.http.request(method, self.base + path, data=data, headers=hdrs) as r:
            text = await r.text()
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            return r.status, parsed, text, r.headers

    async def login(self, email: str | None = None) -> str:
        status, body, text, _ = await self.call("POST", "/v2/auth/login",
                                                {"email": email or f"t-{uuid.uuid4().hex[:10]}@example.com"})
        assert status == 200, text
        return body["api_key"]


class Stack:
    def __init__(self, hosts: dict, edge_runner, api: Api, env: dict):
        self.hosts = hosts
        self.edge_runner = edge_runner
        self.api = api
        self.env = env


@contextlib.asynccontextmanager
async def running_stack(tmp_path, database_url: str = ""):
    from services.auth.__main__ import start as start_auth
    from services.compute.__main__ import start as start_compute
    from services.node.__main__ import start as start_node
    from services.relay.__main__ import start as start_relay
    from services.router.__main__ import start as start_router
    from services.sessions.__main__ import start as start_sessions

    env = {"CERVER_DATA_DIR": str(tmp_path), "CERVER_SERVICE_TOKEN": secrets.token_urlsafe(24),
           "CERVER_DATABASE_URL": database_url, "CERVER_OPEN_SIGNUP": "1", "CERVER_REAP_INTERVAL_S": "3600",
           "CERVER_SANDBOX_WARM": "2",
           # Every test calls from 127.0.0.1 and signs up many accounts: limits
           # per client are tested on their own (test_ratelimit.py).
           "CERVER_RATE_LOGIN": "100000/minute", "CERVER_RATE_AUTH_FAILURES": "100000/minute"}
    names = (*config.SERVICES, config.NODE)
    saved = {k: os.environ.get(k) for k in [*env, "CERVER_RELAY_WS_ADDR", "CERVER_PREVIEW_ADDR",
                                             *(f"CERVER_{s.upper()}_ADDR" for s in names)]}
    os.environ.update(env)
    hosts = {}
    try:
        # Each service's port is picked just before it starts (a free port
        # picked early may be taken meanwhile); a peer is called only later.
        for name, start in (("auth", start_auth), ("node", start_node), ("compute", start_compute),
                            ("router", start_router),
                            ("sessions", start_sessions), ("relay", start_relay)):
            if name == "relay":
                env["CERVER_RELAY_WS_ADDR"] = os.environ["CERVER_RELAY_WS_ADDR"] = f"127.0.0.1:{free_port()}"
            address = env[f"CERVER_{name.upper()}_ADDR"] = f"127.0.0.1:{free_port()}"
            os.environ[f"CERVER_{name.upper()}_ADDR"] = address
            hosts[name] = await start(address)
        env["CERVER_PREVIEW_ADDR"] = os.environ["CERVER_PREVIEW_ADDR"] = f"127.0.0.1:{free_port()}"
        port = free_port()
        runner = await Edge().start("127.0.0.1", port)
        previews = PreviewListener()
        await previews.start(env["CERVER_PREVIEW_ADDR"])
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
            yield Stack(hosts, runner, Api(f"http://127.0.0.1:{port}", http), env)
        await previews.close()
        await runner.cleanup()
    finally:
        for host in reversed(list(hosts.values())):
            await host.stop(grace=1)
        await peers.close_all()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
async def stack(request, tmp_path_factory):
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    async with running_stack(tmp_path_factory.mktemp(f"stack-{request.param}"), url) as s:
        yield s


@pytest.fixture
def api(stack) -> Api:
    return stack.api
