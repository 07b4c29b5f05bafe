"""The relay socket's transport, played against the live stack's relay and
a real agent: calls multiplexed with per-call credit, so that a caller that
stops reading (or a sandbox that stops answering) holds up only its own
call; deadlines; and an agent that breaks the protocol is cut off."""
import asyncio
import contextlib

import aiohttp
import grpc
import pytest

from cerver.v2 import compute_pb2, relay_pb2
from servicekit import errors
from services.compute.adapters.local import LocalProvider
from services.relay import frames
from tests.relays import connected_agent

# A run that answers in many separate pieces, more than one window's worth.
TRICKLE = "i=0; while [ $i -lt 400 ]; do echo line $i; sleep 0.01; i=$((i+1)); done"


async def _relay_sessions(api, key, compute_id, n):
    ids = []
    for _ in range(n):
        status, s, text, _ = await api.call("POST", "/v2/sessions", {"target_compute_id": compute_id}, key=key)
        assert status == 200, text
        ids.append(s["session_id"])
    return ids


def _run(compute_id, sandbox_id, code, stream=True) -> relay_pb2.RelayCall:
    run = compute_pb2.RunSandboxRequest(sandbox_id=sandbox_id, code=code, runtime="shell", timeout=60)
    return relay_pb2.RelayCall(compute_id=compute_id, sandbox_id=sandbox_id,
                               **({"run_sandbox_stream": run} if stream else {"run_sandbox": run}))


async def _collect(link, call, timeout=None) -> str:
    return "".join([r.output.data async for r in link.call(call, timeout) if r.output.type == "stdout"])


@pytest.fixture
async def agent(stack, tmp_path, monkeypatch):
    monkeypatch.setenv("CERVER_RELAY_STATE", str(tmp_path / "relay.json"))
    key = await stack.api.login()
    async with connected_agent(stack.api, key, LocalProvider(tmp_path / "sandboxes", warm=0),
                               tmp_path / "relay.json", "transport-test") as agent:
        agent.key = key
        yield agent


async def test_a_caller_that_stops_reading_holds_up_only_its_own_call(stack, agent):
    compute_id = agent.state.compute_id
    await _relay_sessions(stack.api, agent.key, compute_id, 2)
    slow_box, other_box = list(agent.runtime.boxes)
    link = stack.hosts["relay"].handlers[0].hub.links[compute_id]
    slow = link.call(_run(compute_id, slow_box, TRICKLE))
    await anext(slow)  # the run is under way, and its caller reads no further
    # The agent sends that call a window of replies, then waits for credit.
    for _ in range(200):
        stalled = [c for c in agent.calls.values() if c.credit == 0 and not c.task.done()]
        if stalled:
            break
        await asyncio.sleep(0.05)
    assert stalled, "the agent never ran out of credit for the unread call"
    # Meanwhile the same socket serves other calls, to the stalled sandbox's
    # neighbour and to the stalled sandbox itself.
    for box in (other_box, slow_box):
        out = await asyncio.wait_for(_collect(link, _run(compute_id, box, "echo still served")), 30)
        assert out == "still served\n"
    # Reading again, the slow caller gets every line, in order.
    lines = []
    async for reply in slow:
        if reply.output.type == "stdout":
            lines += reply.output.data.splitlines()
    assert lines[-1] == "line 399" and lines == sorted(lines, key=lambda line: int(line.split()[1]))[-len(lines):]


async def test_a_caller_that_goes_away_cancels_its_call_on_the_machine(stack, agent):
    compute_id = agent.state.compute_id
    await _relay_sessions(stack.api, agent.key, compute_id, 1)
    box = next(iter(agent.runtime.boxes))
    link = stack.hosts["relay"].handlers[0].hub.links[compute_id]
    gone = link.call(_run(compute_id, box, "echo begun; sleep 120"))
    assert (await anext(gone)).output.type == "started"  # the process runs
    assert (await anext(gone)).output.data == "begun\n"
    assert len(agent.calls) == 1
    await gone.aclose()  # the caller went away: the relay cancels the call
    for _ in range(100):
        if not agent.calls:
            break
        await asyncio.sleep(0.05)
    assert not agent.calls
    assert await asyncio.wait_for(_collect(link, _run(compute_id, box, "echo next")), 30) == "next\n"


async def test_a_call_past_its_deadline_ends_on_the_machine(stack, agent):
    compute_id = agent.state.compute_id
    await _relay_sessions(stack.api, agent.key, compute_id, 1)
    box = next(iter(agent.runtime.boxes))
    link = stack.hosts["relay"].handlers[0].hub.links[compute_id]
    with pytest.raises(errors.ServiceError) as raised:
        await asyncio.wait_for(_collect(link, _run(compute_id, box, "sleep 120"), timeout=1.0), 30)
    assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert await asyncio.wait_for(_collect(link, _run(compute_id, box, "echo after")), 30) == "after\n"


async def test_an_agent_that_breaks_the_protocol_is_cut_off(stack):
    api = stack.api
    key = await api.login()
    auth = {"Authorization": f"Bearer {key}"}
    ws_base = api.base.replace("http", "ws", 1) + "/v2/connect/ws"
    _, compute, _, _ = await api.call("POST", "/v2/computes/register", {"name": "rogue"}, key=key)
    compute_id = compute["compute_id"]
    hub = stack.hosts["relay"].handlers[0].hub
    # Text (the old JSON protocol) is refused with a reason.
    async with api.http.ws_connect(f"{ws_base}?compute_id={compute_id}", headers=auth) as ws:
        await ws.send_str('{"id": 1, "reply": {}}')
        msg = await ws.receive(timeout=30)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == aiohttp.WSCloseCode.UNSUPPORTED_DATA
        assert "binary" in msg.extra
    # An agent that answers past its credit is cut off; its caller hears so.
    async with api.http.ws_connect(f"{ws_base}?compute_id={compute_id}", headers=auth) as ws:
        for _ in range(100):
            if compute_id in hub.links:
                break
            await asyncio.sleep(0.05)
        caller = asyncio.create_task(_collect(hub.links[compute_id], _run(compute_id, "sbx_x", "echo")))
        opened = frames.decode((await ws.receive(timeout=30)).data)
        assert opened.HasField("call") and opened.credit == frames.WINDOW
        flood = relay_pb2.RelayFrame(call_id=opened.call_id, reply=relay_pb2.RelayReply(
            output=compute_pb2.SandboxOutput(type="stdout", data="x")))
        with contextlib.suppress(ConnectionError):  # closed on us while the last ones went out
            for _ in range(frames.WINDOW + 1):
                await ws.send_bytes(frames.encode(flood))
        msg = await ws.receive(timeout=30)
        assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == aiohttp.WSCloseCode.POLICY_VIOLATION
        with pytest.raises(errors.ServiceError) as raised:
            await asyncio.wait_for(caller, 30)
        assert raised.value.code == grpc.StatusCode.UNAVAILABLE
