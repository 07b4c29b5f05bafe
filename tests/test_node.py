"""The node runtime owns a machine's sandboxes: the control plane above it
can restart without taking one along, and what a restarted node no longer
holds is reconciled (its sessions pause, and resume elsewhere)."""
import asyncio

from services.compute.__main__ import start as start_compute
from services.node.__main__ import start as start_node
from services.sessions.__main__ import start as start_sessions


async def _restart(stack, name: str, start) -> None:
    await stack.hosts[name].stop(grace=1)
    stack.hosts[name] = await start(stack.env[f"CERVER_{name.upper()}_ADDR"])


async def _session(api, key) -> dict:
    for _ in range(25):
        status, s, text, _ = await api.call("POST", "/v2/sessions", {"requirements": {"runtime": "shell"}}, key=key)
        if status != 503:
            break
        # A service the test before restarted may still be reconnecting: 503 is
        # the retryable answer a client gets meanwhile.
        await asyncio.sleep(0.2)
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


async def test_a_run_that_cannot_find_its_node_is_retryable_and_keeps_the_session(stack):
    """Sessions restarted while compute is down cannot look up which node holds
    a sandbox: its runs get a retryable 503, and the session is not taken for
    lost (nothing is known to be wrong with its sandbox); once compute is back
    the same sandbox answers."""
    api = stack.api
    key = await api.login()
    s = await _session(api, key)
    await _run(api, key, s["session_id"], "echo kept > state")
    await stack.hosts["compute"].stop(grace=1)
    try:
        await _restart(stack, "sessions", start_sessions)  # its cache of node addresses is gone
        status, body, text, headers = await api.call("POST", f"/v2/sessions/{s['session_id']}/run",
                                                     {"code": "cat state"}, key=key)
        assert status == 503 and headers.get("Retry-After") and body["code"] == 14, text
    finally:
        stack.hosts["compute"] = await start_compute(stack.env["CERVER_COMPUTE_ADDR"])
    for _ in range(50):  # the callers' channels reconnect to the new compute
        status, ran, text, _ = await api.call("POST", f"/v2/sessions/{s['session_id']}/run", {"code": "cat state"},
                                              key=key)
        if status != 503:
            break
        await asyncio.sleep(0.2)
    assert status == 200 and ran["result"]["stdout"] == "kept\n", text
    _, after, _, _ = await api.call("GET", f"/v2/sessions/{s['session_id']}", key=key)
    assert after["status"] != "paused" and after["sandbox_id"] == s["sandbox_id"], after["events"][-1]


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


async def test_any_compute_replica_serves_any_sandbox(stack):
    """Compute keeps no sandbox of its own: a second replica names the node's
    compute the same, and serves sandboxes the first one created."""
    import grpc

    from cerver.v2 import compute_pb2, compute_pb2_grpc
    from cli.dev import free_port

    api = stack.api
    key = await api.login()
    second_addr = f"127.0.0.1:{free_port()}"
    second = await start_compute(second_addr)
    try:
        status, sandbox, text, _ = await api.call("POST", "/v2/sandbox", {}, key=key)  # through the first
        assert status == 200, text
        metadata = (("authorization", f"Bearer {key}"),)
        async with grpc.aio.insecure_channel(second_addr) as channel:
            other = compute_pb2_grpc.ComputeServiceStub(channel)
            ran = await other.RunSandbox(compute_pb2.RunSandboxRequest(
                sandbox_id=sandbox["sandbox_id"], code="echo from the second replica"), metadata=metadata)
            assert ran.stdout == "from the second replica\n"
            await other.DeleteSandbox(compute_pb2.DeleteSandboxRequest(sandbox_id=sandbox["sandbox_id"]),
                                      metadata=metadata)
        status, _, _, _ = await api.call("POST", f"/v2/sandbox/{sandbox['sandbox_id']}/run", {"code": "echo"}, key=key)
        assert status == 404
    finally:
        await second.stop(grace=1)


async def test_sandboxes_are_placed_over_several_nodes(tmp_path, monkeypatch):
    """A deployment of two nodes: sandboxes go to the node with most room,
    runs go straight to the node that holds each, and when a node stops
    answering new sandboxes go to the other; its sessions resume there."""
    from cli.dev import free_port
    from tests.conftest import running_stack

    # Offline after three silent polls (1.5 s): short, yet not so short that
    # a busy machine's slow poll takes a live node offline.
    monkeypatch.setenv("CERVER_NODE_POLL_S", "0.5")
    async with running_stack(tmp_path / "stack") as stack:
        api = stack.api
        # A second machine: its own data folder (so its own node id) and uids.
        second_addr = f"127.0.0.1:{free_port()}"
        monkeypatch.setenv("CERVER_DATA_DIR", str(tmp_path / "second"))
        monkeypatch.setenv("CERVER_SANDBOX_UIDS", "1073872896:65536")
        monkeypatch.setenv("CERVER_MAX_SANDBOXES", "3")
        second = await start_node(second_addr)
        monkeypatch.delenv("CERVER_MAX_SANDBOXES")
        try:
            monkeypatch.setenv("CERVER_NODE_ADDR", f"{stack.env['CERVER_NODE_ADDR']},{second_addr}")
            computes = stack.hosts["compute"].handlers[0].computes
            assert await computes.poll() == 2
            key = await api.login()
            _, listed, _, _ = await api.call("GET", "/v2/computes", key=key)
            nodes = {c["compute_id"]: c for c in listed["computes"] if c["provider"] == "local"}
            assert len(nodes) == 2 and all(c["status"] == "online" for c in nodes.values()), listed
            second_id = next(c for c, v in nodes.items() if v["capabilities"]["max_sandboxes"] == 3)

            sessions = [await _session(api, key) for _ in range(4)]
            on = [s["compute_id"] for s in sessions]
            assert set(on) == set(nodes), on  # both nodes took sandboxes
            for s in sessions:  # each run reaches the node that holds its sandbox
                assert (await _run(api, key, s["session_id"], "echo ok"))["stdout"] == "ok\n"
            _, listed, _, _ = await api.call("GET", "/v2/computes", key=key)
            assert sum(c["active_sandboxes"] for c in listed["computes"]) == 4

            await second.stop(grace=1)
            lost = next(s for s in sessions if s["compute_id"] == second_id)
            status, body, text, _ = await api.call("POST", f"/v2/sessions/{lost['session_id']}/run",
                                                   {"code": "echo"}, key=key)
            assert status == 503, text  # retryable: its machine is not there
            await asyncio.sleep(2.5)
            await computes.poll()
            _, listed, _, _ = await api.call("GET", "/v2/computes", key=key)
            assert {c["compute_id"]: c["status"] for c in listed["computes"]}[second_id] == "offline"
            fresh = [await _session(api, key) for _ in range(2)]
            assert all(s["compute_id"] != second_id for s in fresh)
            status, _, text, _ = await api.call("POST", f"/v2/sessions/{lost['session_id']}/pause", {}, key=key)
            assert status == 200, text
            status, resumed, text, _ = await api.call("POST", f"/v2/sessions/{lost['session_id']}/resume", {},
                                                      key=key)
            assert status == 200 and resumed["compute_id"] != second_id, text
            assert (await _run(api, key, lost["session_id"], "echo moved"))["stdout"] == "moved\n"
        finally:
            await second.stop(grace=1)
