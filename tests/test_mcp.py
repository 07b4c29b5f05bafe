"""cerver-mcp, the installed console script, driven over stdio by the
official MCP SDK's own client against a live stack: sessions of the key's
account (and only those), and secret_fetch from the environment and from a
server that follows Infisical's REST API."""
import os
import pathlib
import subprocess
import sys

from aiohttp import web
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters

from cli.dev import free_port
from tests.fakes.infisical import FakeInfisical, Project

SCRIPT = pathlib.Path(sys.executable).parent / "cerver-mcp"  # installed with the package


def _server(**env: str) -> StdioServerParameters:
    return StdioServerParameters(command=str(SCRIPT), env=env)


async def _call(client: Client, tool: str, **arguments):
    result = await client.call_tool(tool, arguments)
    text = "".join(getattr(c, "text", "") for c in result.content)
    return result.is_error, result.structured_content, text


async def _session(api, key, name: str, *codes: str) -> str:
    status, s, text, _ = await api.call("POST", "/v2/sessions", {"session_name": name,
                                                                  "requirements": {"runtime": "shell"}}, key=key)
    assert status == 200, text
    for code in codes:
        assert (await api.call("POST", f"/v2/sessions/{s['session_id']}/run", {"code": code}, key=key))[0] == 200
    return s["session_id"]


async def test_an_agent_lists_peeks_and_exports_its_accounts_sessions(api):
    key, other = await api.login(), await api.login()
    mine = await _session(api, key, "mcp-mine", "echo first", "echo second", "echo third")
    theirs = await _session(api, other, "mcp-theirs", "echo not yours")
    # Long enough to need more than one page of the API (export is any length).
    entries = [{"role": "user", "kind": "text", "content": f"note {i}"} for i in range(1100)]
    for at in range(0, len(entries), 500):
        status, _, text, _ = await api.call("POST", f"/v2/sessions/{mine}/transcript",
                                            {"entries": entries[at:at + 500]}, key=key)
        assert status == 200, text
    async with Client(_server(CERVER_API_URL=api.base, CERVER_API_TOKEN=key)) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        assert {"cerver_session_list", "cerver_session_peek", "cerver_session_export", "cerver_session_search",
                "secret_fetch"} <= tools
        error, listed, _ = await _call(client, "cerver_session_list")
        ids = {s["session_id"] for s in listed["sessions"]}
        assert not error and mine in ids and theirs not in ids
        error, running, _ = await _call(client, "cerver_session_list", status="ended", limit=5)
        assert not error and mine not in {s["session_id"] for s in running["sessions"]}
        error, _, text = await _call(client, "cerver_session_list", status="sleeping")
        assert error and "running, idle, ended" in text
        error, peeked, _ = await _call(client, "cerver_session_peek", session_id=mine, last_n=2)
        assert not error and [e["content"] for e in peeked["entries"]] == ["note 1098", "note 1099"]
        error, _, exported = await _call(client, "cerver_session_export", session_id=mine)
        assert not error and "echo first" in exported and "second\n" in exported and "note 1099" in exported
        assert exported.count("\n[") == peeked["transcript_count"] == 1106
        error, found, _ = await _call(client, "cerver_session_search", query="note 1099", limit=3)
        assert not error and found["hits"][0]["session_id"] == mine and "**1099**" in found["hits"][0]["snippet"]
        error, found, _ = await _call(client, "cerver_session_search", query="yours")
        assert not error and found["hits"] == []  # another account's words never match
        # Another account's session is as unknown as one that does not exist.
        for session_id in (theirs, "00000000-0000-0000-0000-000000000000", "../computes"):
            error, _, text = await _call(client, "cerver_session_peek", session_id=session_id)
            assert error and "404" in text, text
    async with Client(_server(CERVER_API_URL=api.base, CERVER_API_TOKEN="ck_not_a_key")) as client:
        error, _, text = await _call(client, "cerver_session_list")
        assert error and "401" in text


async def test_secret_fetch_reads_the_environment_by_exact_name(tmp_path):
    async with Client(_server(OPENAI_API_KEY="sk-test-123", BUFFER_API_KEY="buf")) as client:
        error, got, _ = await _call(client, "secret_fetch", name="OPENAI_API_KEY")
        assert not error and got == {"name": "OPENAI_API_KEY", "value": "sk-test-123", "source": "env"}
        for missing in ("openai_api_key", "OPENAI_API_KEY ", "NOT_SET"):  # matching is exact
            error, _, text = await _call(client, "secret_fetch", name=missing)
            assert error and "no secret named" in text and "sk-test" not in text


async def test_secret_fetch_reads_infisical_with_a_service_token_or_a_machine_identity(tmp_path):
    fake = FakeInfisical(Project("proj-1", "prod", {"STRIPE_SECRET_KEY": "sk_live_abc", "OPENAI_API_KEY": "sk-inf"}))
    runner = web.AppRunner(fake.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    common = dict(CERVER_SECRETS_BACKEND="infisical", INFISICAL_API_URL=f"http://127.0.0.1:{port}",
                  INFISICAL_PROJECT_ID="proj-1", OPENAI_API_KEY="from-env-not-used")
    try:
        for auth in (dict(INFISICAL_TOKEN=fake.service_token),
                     dict(INFISICAL_CLIENT_ID=fake.client_id, INFISICAL_CLIENT_SECRET=fake.client_secret)):
            async with Client(_server(**common, **auth)) as client:
                error, got, _ = await _call(client, "secret_fetch", name="OPENAI_API_KEY")
                assert not error and got == {"name": "OPENAI_API_KEY", "value": "sk-inf", "source": "infisical"}
                error, _, text = await _call(client, "secret_fetch", name="MISSING")
                assert error and "no secret named 'MISSING'" in text
        assert ("POST", "/api/v1/auth/universal-auth/login") in fake.requests
        # INFISICAL_ENVIRONMENT defaults to prod; another environment is the token's refusal, said clearly.
        async with Client(_server(**common, INFISICAL_TOKEN=fake.service_token, INFISICAL_ENVIRONMENT="dev")) as client:
            error, _, text = await _call(client, "secret_fetch", name="OPENAI_API_KEY")
            assert error and "not allowed" in text and "sk-inf" not in text
        async with Client(_server(**common, INFISICAL_TOKEN="st.wrong")) as client:
            error, _, text = await _call(client, "secret_fetch", name="OPENAI_API_KEY")
            assert error and "Invalid token" in text and "st.wrong" not in text
    finally:
        await runner.cleanup()


def test_missing_backend_settings_stop_it_at_start_with_a_clear_message():
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    for extra, said in (({"CERVER_SECRETS_BACKEND": "infisical", "INFISICAL_PROJECT_ID": "p"}, "INFISICAL_TOKEN"),
                        ({"CERVER_SECRETS_BACKEND": "infisical", "INFISICAL_TOKEN": "st.x"}, "INFISICAL_PROJECT_ID"),
                        ({"CERVER_SECRETS_BACKEND": "vault"}, "CERVER_SECRETS_BACKEND: Input should be 'env' or 'infisical'")):
        done = subprocess.run([str(SCRIPT)], env={**env, **extra}, input="", capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 2 and said in done.stderr, done.stderr


async def test_the_edge_serves_the_same_tools_over_streamable_http(api, monkeypatch):
    """/mcp on the edge, authenticated by the caller's key: the account's
    sessions only (a caller cannot vouch for another account), and
    secret_fetch only for the deployment's operators."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    async def login() -> tuple[str, str]:
        status, body, text, _ = await api.call("POST", "/v2/auth/login", {"email": f"mcp-{os.urandom(4).hex()}@x.io"})
        assert status == 200, text
        return body["api_key"], body["account_id"]

    (key, account), (other, other_account) = await login(), await login()
    mine = await _session(api, key, "mcp-http", "echo over http")
    theirs = await _session(api, other, "mcp-http-theirs", "echo theirs")
    monkeypatch.setenv("OPERATOR_TOKEN", "op-secret")
    # Forged vouching headers are dropped: the key decides the account.
    headers = {"Authorization": f"Bearer {key}", "X-Cerver-Account-Id": other_account,
               "X-Cerver-Service-Token": "guess"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        async with Client(streamable_http_client(api.base + "/mcp", http_client=http)) as client:
            assert "cerver_session_search" in {t.name for t in (await client.list_tools()).tools}
            error, listed, _ = await _call(client, "cerver_session_list", limit=200)
            ids = {s["session_id"] for s in listed["sessions"]}
            assert not error and mine in ids and theirs not in ids
            error, peeked, _ = await _call(client, "cerver_session_peek", session_id=mine, last_n=1)
            assert not error and peeked["entries"][0]["content"] == "over http\n"
            error, _, text = await _call(client, "cerver_session_peek", session_id=theirs)
            assert error and "404" in text
            error, _, text = await _call(client, "secret_fetch", name="OPERATOR_TOKEN")
            assert error and "CERVER_MCP_SECRET_ACCOUNTS" in text and "op-secret" not in text
            monkeypatch.setenv("CERVER_MCP_SECRET_ACCOUNTS", f"acct_none,{account}")
            error, got, _ = await _call(client, "secret_fetch", name="OPERATOR_TOKEN")
            assert not error and got == {"name": "OPERATOR_TOKEN", "value": "op-secret", "source": "env"}
    for auth_header in ({}, {"Authorization": "Bearer ck_not_a_key"}):
        async with api.http.post(api.base + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                                 headers=auth_header) as r:
            body = await r.json()
            assert r.status == 401 and body["code"] == 16 and r.headers["WWW-Authenticate"] == "Bearer", body
