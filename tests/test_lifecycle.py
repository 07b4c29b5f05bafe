"""No session lost to a hiccup: pausing stops the clock, a resume that
cannot provision leaves the session paused, and sessions whose compute
restarted show as paused."""

from datetime import timedelta

from sqlalchemy import update

from servicekit.clock import now
from services.sessions.store import SessionRow
from services.compute.adapters.local import LocalProvider
from services.compute.store import SandboxRow
from tests.relays import connected_agent


def sessions(stack):
    return stack.hosts["sessions"].handlers[0].sessions


async def shift(stack, sid: str, **values) -> None:
    async with sessions(stack).store.db.session() as s:
        await s.exec(update(SessionRow).where(SessionRow.session_id == sid).values(**values))


async def create(api, key, **requirements):
    body = {"task": "t", "requirements": {"runtime": "shell", "persistence_level": "high", **requirements}}
    status, s, text, _ = await api.call("POST", "/v2/sessions", body, key=key)
    assert status == 200, text
    return s["session_id"]


async def test_pause_stops_the_clock_and_retention_ends_a_forgotten_session(stack):
    api = stack.api
    key = await api.login()
    sid = await create(api, key, timeout_minutes=1)
    await api.call("POST", f"/v2/sessions/{sid}/run", {"code": "echo kept > f"}, key=key)
    await api.call("POST", f"/v2/sessions/{sid}/pause", {}, key=key)
    # Long after its minute: created (and its first deadline) ten minutes ago.
    await shift(stack, sid, created_at=now() - timedelta(minutes=10))
    await sessions(stack).reap_expired()
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}", key=key)
    assert s["status"] == "paused"
    status, resumed, text, _ = await api.call("POST", f"/v2/sessions/{sid}/resume", {}, key=key)
    assert status == 200 and resumed["status"] == "ready", text
    _, ran, _, _ = await api.call("POST", f"/v2/sessions/{sid}/run", {"code": "cat f"}, key=key)
    assert ran["result"]["stdout"] == "kept\n"
    # The clock resumed with what was left of the minute, not a fresh one.
    account = (await api.call("GET", "/v2/auth/account", key=key))[1]["account_id"]
    row = await sessions(stack).store.get(account, sid)
    left = (row.expires_at - now()).total_seconds()
    assert 0 < left <= 60
    # Paused past its retention, a session ends (reason "retention").
    await api.call("POST", f"/v2/sessions/{sid}/pause", {}, key=key)
    await shift(stack, sid, expires_at=now() - timedelta(seconds=1))
    assert await sessions(stack).reap_expired() >= 1
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}", key=key)
    assert s["status"] == "terminated" and s["end_reason"] == "retention" and s["events"][-1]["type"] == "expired"


async def test_a_failed_resume_leaves_the_session_paused_and_resumable(stack, tmp_path, monkeypatch):
    api = stack.api
    key = await api.login()
    monkeypatch.setenv("CERVER_RELAY_STATE", str(tmp_path / "relay.json"))
    provider = LocalProvider(tmp_path / "sandboxes", warm=0)
    async with connected_agent(api, key, provider, tmp_path / "relay.json", "laptop") as agent:
        compute_id = agent.state.compute_id
        status, s, text, _ = await api.call("POST", "/v2/sessions", {"target_compute_id": compute_id}, key=key)
        assert status == 200, text
        sid = s["session_id"]
        assert (await api.call("POST", f"/v2/sessions/{sid}/run", {"code": "echo hi"}, key=key))[0] == 200
    # The agent is gone: the next run pauses the session, as documented.
    status, err, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run", {"code": "echo hi"}, key=key)
    assert status in (409, 503), text
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}", key=key)
    assert s["status"] == "paused"
    # Resuming on the same (offline) compute fails, and says so; the session stays paused.
    status, err, text, _ = await api.call("POST", f"/v2/sessions/{sid}/resume", {}, key=key)
    assert status in (409, 503) and err["message"], text
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}", key=key)
    assert s["status"] == "paused" and not s.get("end_reason"), s
    # ... and it can be resumed elsewhere, transcript whole.
    status, s, text, _ = await api.call("POST", f"/v2/sessions/{sid}/resume", {"compute": {"provider": "local"}},
                                        key=key)
    assert status == 200 and s["status"] == "ready" and s["provider"] == "local", text
    _, ran, _, _ = await api.call("POST", f"/v2/sessions/{sid}/run", {"code": "echo back"}, key=key)
    assert ran["result"]["stdout"] == "back\n"
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}?full=1", key=key)
    assert [e["content"] for e in s["transcript"] if e["kind"] == "code"][0] == "echo hi"
    await api.call("DELETE", f"/v2/sessions/{sid}", key=key)


async def test_sessions_whose_sandbox_is_gone_show_as_paused(stack):
    api = stack.api
    key = await api.login()
    sid = await create(api, key)
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}", key=key)
    # The sandbox is lost (as a restart of its node does; the workspace is kept).
    compute = stack.hosts["compute"].handlers[0].computes
    compute._running.pop(s["sandbox_id"])
    node = stack.hosts["node"].handlers[0].runtime
    await node.provider.delete(node.boxes.pop(s["sandbox_id"]), keep_workspace=True)
    async with compute.store.db.session() as db:
        await db.exec(update(SandboxRow).where(SandboxRow.sandbox_id == s["sandbox_id"]).values(status="deleted"))
    assert await sessions(stack).reconcile() >= 1
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}", key=key)
    assert s["status"] == "paused" and s["events"][-1]["type"] == "compute_lost", s["events"][-1]
    status, s, text, _ = await api.call("POST", f"/v2/sessions/{sid}/resume", {}, key=key)
    assert status == 200 and s["status"] == "ready", text
    await api.call("DELETE", f"/v2/sessions/{sid}", key=key)
