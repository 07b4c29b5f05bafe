"""`cerver-mcp`: an MCP server over stdio (the official `mcp` SDK) with the
tools of spec/001: cerver_session_list, cerver_session_peek,
cerver_session_export and cerver_session_search read the sessions of the account that owns
CERVER_API_TOKEN through the Cerver API at CERVER_API_URL (the embedded
stack's by default) — the same data a human sees; secret_fetch resolves a
name through the secrets backend CERVER_SECRETS_BACKEND names."""
import hmac
import sys
import urllib.parse
from typing import Any

import aiohttp
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from cli import render
from cli.client import DEFAULT_URL
from servicekit import secrets
from servicekit import auth, config

edge_api_url = DEFAULT_URL  # over HTTP: the hosting edge's own address (cerver_mcp.http)
COARSE = ("running", "idle", "ended")
PAGE = 1000  # transcript entries per read (the API's most)
TIMEOUT_S = 60.0

server = MCPServer("cerver", instructions=(
    "Cerver sessions are memory: list the sessions of your account, peek at the newest entries of one, "
    "or export its whole transcript. secret_fetch returns a secret by its exact name."))


async def secret_fetch(name: str) -> dict[str, Any]:
    """{name, value, source} of the secret stored under exactly `name` in the
    active backend; ValueError (a SecretsError) when it cannot be found, the
    backend is unknown or its settings are missing."""
    backend = secrets.from_env()
    return {"name": name, "value": await backend.fetch(name), "source": backend.source}


class Api:
    """The Cerver REST API, as the owner of CERVER_API_TOKEN."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url.rstrip("/"), token

    async def get(self, path: str, **params) -> dict[str, Any]:
        if not self.token:
            raise ToolError("CERVER_API_TOKEN is not set: give cerver-mcp an API key (ck_…) of your account")
        query = {k: str(v) for k, v in params.items() if v is not None}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as http:
                async with http.get(self.url + path, params=query,
                                    headers={"Authorization": f"Bearer {self.token}"}) as r:
                    body = await r.json(content_type=None)
                    if r.status != 200:
                        message = body.get("message") if isinstance(body, dict) else None
                        raise ToolError(f"Cerver answered {r.status}: {message or 'no message'}")
                    return body
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ToolError(f"Cerver at {self.url} did not answer ({exc.__class__.__name__})") from None


def _edge_account(ctx: Context) -> str | None:
    """Over HTTP (the edge's /mcp), the account the edge authenticated, as
    it vouches with the service token; None over stdio."""
    headers = ctx.headers
    if headers is None:
        return None
    vouched = headers.get(auth.SERVICE_TOKEN_HEADER, "")
    if not config.service_token() or not hmac.compare_digest(vouched.encode(), config.service_token().encode()):
        raise ToolError("not called through the Cerver edge")
    return headers.get(auth.ACCOUNT_HEADER, "")


def _api(ctx: Context) -> Api:
    """The API as the caller: over HTTP with the key the edge checked,
    over stdio with CERVER_API_TOKEN."""
    if _edge_account(ctx) is not None:
        key = ctx.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return Api(edge_api_url, key)
    return Api(config.settings().api_url or DEFAULT_URL, config.settings().api_token.get_secret_value())


def _session_path(session_id: str) -> str:
    if not session_id or len(session_id) > 200:
        raise ToolError("session_id is a session's id, as cerver_session_list gives it")
    return "/v2/sessions/" + urllib.parse.quote(session_id, safe="")


def _entry(e: dict) -> dict[str, Any]:
    return {k: e.get(k) for k in ("seq", "at", "role", "kind", "content")}


@server.tool(name="cerver_session_list", structured_output=True)
async def session_list(ctx: Context, status: str | None = None, limit: int = 20) -> dict[str, Any]:
    """The sessions of your account, newest first. status: running | idle |
    ended (unset: all). limit: 1..200."""
    if status and status not in COARSE:
        raise ToolError(f"status must be one of {', '.join(COARSE)}")
    if not 1 <= limit <= 200:
        raise ToolError("limit must be 1..200")
    page = await _api(ctx).get("/v2/sessions", state=status or None, limit=limit)
    return {"sessions": [{k: s.get(k) for k in ("session_id", "session_name", "status", "state", "provider",
                                                "task", "created_at", "updated_at", "transcript_count")}
                         for s in page.get("sessions", [])]}


@server.tool(name="cerver_session_peek", structured_output=True)
async def session_peek(ctx: Context, session_id: str, last_n: int = 20) -> dict[str, Any]:
    """The newest last_n (1..1000) transcript entries of one session, oldest first."""
    if not 1 <= last_n <= PAGE:
        raise ToolError(f"last_n must be 1..{PAGE}")
    s = await _api(ctx).get(_session_path(session_id), tail=last_n)
    return {"session_id": s["session_id"], "session_name": s.get("session_name"), "status": s.get("status"),
            "transcript_count": s.get("transcript_count"), "entries": [_entry(e) for e in s.get("transcript", [])]}


@server.tool(name="cerver_session_export")
async def session_export(ctx: Context, session_id: str) -> str:
    """One session's whole transcript as plain text, however long (read page
    by page)."""
    api, path = _api(ctx), _session_path(session_id)
    s = await api.get(path, tail=1)
    lines = [render.export_header(s)]
    after = 0
    while True:
        page = (await api.get(path, since=after, tail=PAGE)).get("transcript", [])
        lines.extend(render.export_entry(e) for e in page)
        if len(page) < PAGE:
            return "\n".join(lines) + "\n"
        after = page[-1]["seq"]


@server.tool(name="cerver_session_search", structured_output=True)
async def session_search(ctx: Context, query: str, limit: int = 20) -> dict[str, Any]:
    """Transcript entries of your account's sessions that hold every word of
    query, newest first, each with its session and a snippet (matches
    marked **like this**). limit: 1..100."""
    if not 1 <= limit <= 100:
        raise ToolError("limit must be 1..100")
    found = await _api(ctx).get("/v2/sessions/search", q=query, limit=limit)
    return {"hits": [{k: h.get(k) for k in ("session_id", "session_name", "status", "seq", "at", "role", "kind",
                                            "snippet")} for h in found.get("hits", [])]}


@server.tool(name="secret_fetch", structured_output=True)
async def secret_fetch_tool(ctx: Context, name: str) -> dict[str, Any]:
    """{name, value, source} of the secret stored under exactly this name in
    the configured backend (source: env or infisical)."""
    account = _edge_account(ctx)
    if account is not None and account not in config.mcp_secret_accounts():
        # Over HTTP the backend is the deployment's: only its operators' accounts read it.
        raise ToolError("secret_fetch over /mcp is open only to the accounts in CERVER_MCP_SECRET_ACCOUNTS; "
                        "run cerver-mcp locally to read your own secrets")
    try:
        return await secret_fetch(name)
    except ValueError as exc:
        raise ToolError(str(exc)) from None


def main() -> None:
    """The console script: checks the secrets backend's settings, then
    serves MCP over stdio until the client closes it."""
    try:
        secrets.from_env()
    except secrets.SecretsError as exc:
        print(f"cerver-mcp: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    server.run("stdio")
