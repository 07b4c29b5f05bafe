"""Attacks through the API, on the real stack: one account taking every
slot, NUL bytes, made-up workspace ids from a request or from a malicious
relay agent, idle raw sandboxes, and data files readable by other host users."""
import asyncio
import contextlib
import os
import stat

from services.compute.adapters.local import LocalProvider
from tests.relays import connected_agent
from servicekit.quotas import Quotas


def computes(stack):
    return stack.hosts["compute"].handlers[0].computes


@contextlib.contextmanager
def quotas(stack, **values):
    domain = computes(stack)
    saved = domain.quotas
    domain.quotas = Quotas(**{**saved.__dict__, **values})
    try:
        yield
    finally:
        domain.quotas = saved


async def new_sandbox(api, key, **body):
    return await api.call("POST", "/v2/sandbox", {"requirements": {"runtime": "shell"}, **body}, key=key)


async def test_one_account_cannot_take_every_slot(stack):
    api = stack.api
    greedy, other = await api.login(), await api.login()
    made = []
    with quotas(stack, sandboxes=3):
        for _ in range(3):
            status, box, text, _ = await new_sandbox(api, greedy)
            assert status == 200, text
            made.append(box["sandbox_id"])
        status, err, text, headers = await new_sandbox(api, greedy)
        assert status == 429 and int(headers["Retry-After"]) >= 1, text
        failure = next(d for d in err["details"] if d["@type"].endswith("QuotaFailure"))
        assert failure["violations"][0]["subject"] == "sandboxes" and "limit 3" in err["message"]
        # Another account is not affected.
        status, box, text, _ = await new_sandbox(api, other)
        assert status == 200, text
        status, ran, text, _ = await api.call("POST", f"/v2/sandbox/{box['sandbox_id']}/run", {"code": "echo ok"},
                                              key=other)
        assert ran["stdout"] == "ok\n", text
        # Deleting one frees a slot.
        await api.call("DELETE", f"/v2/sandbox/{made.pop()}", key=greedy)
        status, box2, text, _ = await new_sandbox(api, greedy)
        assert status == 200, text
        made.append(box2["sandbox_id"])
    for sid in made:
        await api.call("DELETE", f"/v2/sandbox/{sid}", key=greedy)
    await api.call("DELETE", f"/v2/sandbox/{box['sandbox_id']}", key=other)


async def test_concurrent_runs_per_account_are_bounded(stack):
    api = stack.api
    key, other = await api.login(), await api.login()
    _, box, _, _ = await new_sandbox(api, key)
    _, theirs, _, _ = await new_sandbox(api, other)
    sid = box["sandbox_id"]
    with quotas(stack, runs=2):
        slow = [asyncio.create_task(api.call("POST", f"/v2/sandbox/{sid}/run", {"code": "sleep 1.5"}, key=key))
                for _ in range(2)]
        await asyncio.sleep(0.5)
        status, err, text, headers = await api.call("POST", f"/v2/sandbox/{sid}/run", {"code": "echo x"}, key=key)
        assert status == 429 and "Retry-After" in headers and "concurrent_runs" in err["message"], text
        status, ran, text, _ = await api.call("POST", f"/v2/sandbox/{theirs['sandbox_id']}/run", {"code": "echo y"},
                                              key=other)
        assert status == 200 and ran["stdout"] == "y\n", text
        assert all(r[0] == 200 for r in await asyncio.gather(*slow))
    status, ran, _, _ = await api.call("POST", f"/v2/sandbox/{sid}/run", {"code": "echo z"}, key=key)
    assert status == 200
    for k, s in ((key, sid), (other, theirs["sandbox_id"])):
        await api.call("DELETE", f"/v2/sandbox/{s}", key=k)


async def test_nul_bytes_are_refused_before_anything_starts(stack):
    api = stack.api
    key = await api.login()
    _, box, _, _ = await new_sandbox(api, key)
    sid = box["sandbox_id"]
    status, s, text, _ = await api.call("POST", "/v2/sessions", {"requirements": {"runtime": "shell"}}, key=key)
    session = s["session_id"]
    for path, body in ((f"/v2/sandbox/{sid}/run", {"code": "echo a\u0000b"}),
                       (f"/v2/sandbox/{sid}/run", {"code": "env", "env": {"A": "x\u0000y"}}),
                       (f"/v2/sandbox/{sid}/run", {"code": "env", "env": {"A\u0000": "x"}}),
                       (f"/v2/sandbox/{sid}/files", {"path": "a\u0000b", "content": "x"}),
                       (f"/v2/sessions/{session}/run", {"code": "echo a\u0000b"}),
                       (f"/v2/sessions/{session}/run/stream", {"code": "echo a\u0000b"})):
        status, err, text, _ = await api.call("POST", path, body, key=key)
        assert status == 400 and "NUL" in err["message"], (path, text)
    status, err, text, _ = await api.call("GET", f"/v2/sandbox/{sid}/files?path=a%00b", key=key)
    assert status == 400, text
    # Nothing crashed: both still serve, and the session is not paused.
    _, ran, _, _ = await api.call("POST", f"/v2/sandbox/{sid}/run", {"code": "echo alive"}, key=key)
    assert ran["stdout"] == "alive\n"
    _, ran, text, _ = await api.call("POST", f"/v2/sessions/{session}/run", {"code": "echo alive"}, key=key)
    assert ran["result"]["stdout"] == "alive\n", text
    await api.call("DELETE", f"/v2/sandbox/{sid}", key=key)
    await api.call("DELETE", f"/v2/sessions/{session}", key=key)


async def test_workspace_ids_from_a_request_are_checked(stack):
    api = stack.api
    key = await api.login()
    for bad in ("../..", "../../../../x", "ws_../..", "ws_0123456789abcdef/.."):
        status, err, text, _ = await new_sandbox(api, key, workspace_id=bad)
        assert status == 404 and err["code"] == 5, text
    assert (stack.env and os.path.isdir(stack.env["CERVER_DATA_DIR"]))


class Malicious(LocalProvider):
    """A relay agent that answers create-sandbox with a path of its choosing."""

    answer = "../.."

    async def create(self, box, limits=None, workspace_id=""):
        return self.answer


async def test_a_malicious_relay_agent_cannot_plant_paths(stack, tmp_path, monkeypatch):
    api = stack.api
    key = await api.login()
    monkeypatch.setenv("CERVER_RELAY_STATE", str(tmp_path / "relay.json"))
    provider = Malicious(tmp_path / "sandboxes", warm=0)
    async with connected_agent(api, key, provider, tmp_path / "relay.json", "evil") as agent:
        for answer in ("../..", "../../../../x", "/etc", "ws_0123456789abcdef/../../x"):
            provider.answer = answer
            status, err, text, _ = await api.call("POST", "/v2/sandbox", {"compute_id": agent.state.compute_id},
                                                  key=key)
            assert status == 503 and "invalid workspace id" in err["message"], text
        domain = computes(stack)
        assert not any(row.workspace_id and not row.workspace_id.startswith("ws_")
                       for row in domain._running.values())
        # The data folder is where it was, whole.
        data = stack.env["CERVER_DATA_DIR"]
        assert os.path.isdir(os.path.join(data, "compute", "workspaces"))


async def test_idle_raw_sandboxes_are_reaped(stack):
    api = stack.api
    key = await api.login()
    _, box, _, _ = await new_sandbox(api, key)
    sid = box["sandbox_id"]
    status, s, _, _ = await api.call("POST", "/v2/sessions", {"requirements": {"runtime": "shell"}}, key=key)
    with quotas(stack, idle_ttl_s=0):
        await asyncio.sleep(0.01)
        assert await computes(stack).reap_idle() >= 1
    status, _, text, _ = await api.call("POST", f"/v2/sandbox/{sid}/run", {"code": "echo x"}, key=key)
    assert status == 404, text
    # A session's sandbox is not a raw one: it follows its session.
    _, ran, text, _ = await api.call("POST", f"/v2/sessions/{s['session_id']}/run", {"code": "echo kept"}, key=key)
    assert ran["result"]["stdout"] == "kept\n", text
    await api.call("DELETE", f"/v2/sessions/{s['session_id']}", key=key)


async def test_data_at_rest_is_the_owners_alone(stack):
    data = stack.env["CERVER_DATA_DIR"]
    assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
    for name in os.listdir(data):
        path = os.path.join(data, name)
        if os.path.isfile(path):
            assert stat.S_IMODE(os.stat(path).st_mode) & 0o077 == 0, (name, oct(os.stat(path).st_mode))
    workspaces = os.path.join(data, "compute", "workspaces")
    assert stat.S_IMODE(os.stat(workspaces).st_mode) == 0o700


async def test_sessions_with_compute_are_bounded_per_account(stack):
    api = stack.api
    key, other = await api.login(), await api.login()
    domain = stack.hosts["sessions"].handlers[0].sessions
    saved = domain.quotas
    domain.quotas = Quotas(**{**saved.__dict__, "sessions_with_compute": 2})
    body = {"requirements": {"runtime": "shell"}}
    try:
        made = [(await api.call("POST", "/v2/sessions", body, key=key))[1]["session_id"] for _ in range(2)]
        status, err, text, headers = await api.call("POST", "/v2/sessions", body, key=key)
        assert status == 429 and "Retry-After" in headers and "sessions_with_compute" in err["message"], text
        # Memory needs no compute: transcript-only sessions are not counted.
        status, _, text, _ = await api.call("POST", "/v2/sessions", {"session_type": "transcript"}, key=key)
        assert status == 200, text
        status, _, text, _ = await api.call("POST", "/v2/sessions", body, key=other)
        assert status == 200, text
        # A paused session gives its slot back; resuming it needs one.
        await api.call("POST", f"/v2/sessions/{made[0]}/pause", {}, key=key)
        status, third, text, _ = await api.call("POST", "/v2/sessions", body, key=key)
        assert status == 200, text
        status, err, text, _ = await api.call("POST", f"/v2/sessions/{made[0]}/resume", {}, key=key)
        assert status == 429, text
        _, paused, _, _ = await api.call("GET", f"/v2/sessions/{made[0]}", key=key)
        assert paused["status"] == "paused"  # refused, not ended
        made.append(third["session_id"])
    finally:
        domain.quotas = saved
    for sid in made:
        await api.call("DELETE", f"/v2/sessions/{sid}", key=key)
