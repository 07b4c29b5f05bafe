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
        first_compute = stack.hosts["compute"].handlers[0].computes
        assert second.handlers[0].computes.local_compute_id == first_compute.local_compute_id
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
