"""The node runtime owns a machine's sandboxes: the control plane above it
can restart without taking one along, and what a restarted node no longer
holds is reconciled (its sessions pause, and resume elsewhere)."""
from services.compute.__main__ import start as start_compute
from services.node.__main__ import start as start_node


async def _restart(stack, name: str, start) -> None:
    await stack.hosts[name].stop(grace=1)
    stack.hosts[name] = await start(stack.env[f"CERVER_{name.upper()}_ADDR"])


async def _session(api, key) -> dict:
    status, s, text, _ = await api.call("POST", "/v2/sessions", {"requirements": {"runtime": "shell"}}, key=key)
    assert status == 200, text
    return s


async def _run(api, key, sid, code) -> dict:
    status, ran, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run", {"code": code}, key=key)
    assert status == 200, text
    return ran["result"]


async def test_sandboxes_survive_a_restart_of_the_compute_service(stack):
    api = stack.api
    key = await api.login()
    s = await _session(api, key)
    # State in the sandbox's memory (a process) and on its disk.
    await _run(api, key, s["session_id"], "echo kept > state; (sleep 600 &) ; echo started")
    await _restart(stack, "compute", start_compute)
    ran = await _run(api, key, s["session_id"], "cat state; pgrep -c sleep")
    assert ran["stdout"] == "kept\n1\n" and ran["exit_code"] == 0
    _, again, _, _ = await api.call("GET", f"/v2/sessions/{s['session_id']}", key=key)
    assert again["status"] != "paused" and again["sandbox_id"] == s["sandbox_id"]
    # The registry still counts it, and can delete it.
    status, _, text, _ = await api.call("DELETE", f"/v2/sessions/{s['session_id']}", key=key)
    assert status == 200, text


async def test_what_a_restarted_node_no_longer_holds_is_reconciled(stack):
    api = stack.api
    key = await api.login()
    s = await _session(api, key)
    await _restart(stack, "node", start_node)  # its sandboxes go with it (the workspace is kept)
    await _restart(stack, "compute", start_compute)  # and learns so from the node
    assert await stack.hosts["sessions"].handlers[0].sessions.reconcile() >= 1
    _, paused, _, _ = await api.call("GET", f"/v2/sessions/{s['session_id']}", key=key)
    assert paused["status"] == "paused" and paused["events"][-1]["type"] == "compute_lost", paused["events"][-1]
    status, resumed, text, _ = await api.call("POST", f"/v2/sessions/{s['session_id']}/resume", {}, key=key)
    assert status == 200 and resumed["status"] == "ready", text
    assert (await _run(api, key, s["session_id"], "echo back"))["stdout"] == "back\n"
