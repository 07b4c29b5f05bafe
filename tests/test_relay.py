"""Private computes through the relay: the agent as its own process against
`cerver dev`, and a relay of two replicas."""
import json
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request


from cli.dev import free_port
from services.compute.adapters.local import LocalProvider
from tests.relays import connected_agent
from tests.test_dev_stack import CERVER, start_stack, stop_stack


def call(base, method, path, body=None, key=None):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode() if body is not None else None,
                                 method=method, headers={"Content-Type": "application/json",
                                                         **({"Authorization": f"Bearer {key}"} if key else {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def start_agent(base, state_dir, log_path):
    log = open(log_path, "a")
    return subprocess.Popen([str(CERVER), "relay", "--url", base, "--name", "test-laptop"], stdout=log,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "CERVER_RELAY_STATE": str(state_dir / "relay.json")})


def wait_for(log_path, pattern, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.findall(pattern, open(log_path).read())
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not in agent output:\n{open(log_path).read()}")


def test_private_compute_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("CERVER_HEARTBEAT_WINDOW_S", "3")
    port = free_port()
    stack = start_stack(tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "agent.log"
    agent = None
    try:
        _, owner = call(base, "POST", "/v2/auth/login", {"email": "owner@example.com"})
        _, stranger = call(base, "POST", "/v2/auth/login", {"email": "stranger@example.com"})
        key, other = owner["api_key"], stranger["api_key"]

        # Device login, approved through the API.
        agent = start_agent(base, tmp_path, log_path)
        code = wait_for(log_path, r"\b([B-Z]{4}-[B-Z]{4})\b")[0]
        assert call(base, "POST", "/v2/auth/approve", {"user_code": code}, key)[0] == 200
        compute_id = wait_for(log_path, r"Registered as compute (comp_\w+)")[0]
        wait_for(log_path, "Connected to")
        assert oct(os.stat(tmp_path / "relay.json").st_mode & 0o777) == "0o600"

        _, listed = call(base, "GET", "/v2/computes", key=key)
        mine = next(c for c in listed["computes"] if c["compute_id"] == compute_id)
        assert mine["status"] == "online" and mine["kind"] == "private" and mine["name"] == "test-laptop"
        assert "shell" in mine["capabilities"]["runtimes"] and mine["capabilities"]["cores"] >= 1

        # Another account neither sees nor uses it.
        _, theirs = call(base, "GET", "/v2/computes", key=other)
        assert compute_id not in {c["compute_id"] for c in theirs["computes"]}
        assert call(base, "GET", f"/v2/computes/{compute_id}", key=other)[0] == 404
        assert call(base, "POST", "/v2/sessions", {"target_compute_id": compute_id}, other)[0] == 404

        status, session = call(base, "POST", "/v2/sessions", {"target_compute_id": compute_id,
                                                               "requirements": {"persistence_level": "high"}}, key)
        assert status == 200 and session["provider"] == "relay" and session["compute_id"] == compute_id, session
        sid = session["session_id"]
        status, ran = call(base, "POST", f"/v2/sessions/{sid}/run", {"code": "echo on-relay > f.txt; cat f.txt"}, key)
        assert ran["result"]["stdout"] == "on-relay\n"
        req = urllib.request.Request(f"{base}/v2/sessions/{sid}/run/stream", method="POST",
                                     data=json.dumps({"code": "echo a; sleep 0.2; echo b"}).encode(),
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            events = [json.loads(line[6:]) for line in r.read().decode().splitlines() if line.startswith("data: ")]
            assert r.headers["X-Cerver-Provider"] == "relay"
        assert [e["data"] for e in events if e["type"] == "stdout"] == ["a\n", "b\n"] and events[-1]["type"] == "exit"

        # Kill the agent mid-run: a clear error, and the session can be resumed.
        killer = subprocess.Popen(["sh", "-c", f"sleep 1; kill -9 {agent.pid}"])
        status, err = call(base, "POST", f"/v2/sessions/{sid}/run", {"code": "sleep 10; echo never"}, key)
        killer.wait()
        agent.wait()
        assert status == 503 and "unreachable" in err["message"] and "resume" in err["message"], err
        _, paused = call(base, "GET", f"/v2/sessions/{sid}", key=key)
        assert paused["status"] == "paused" and paused["events"][-1]["type"] == "compute_lost"

        # No heartbeat within the window: offline, and the router stops choosing it.
        time.sleep(4)
        _, listed = call(base, "GET", "/v2/computes", key=key)
        assert next(c for c in listed["computes"] if c["compute_id"] == compute_id)["status"] == "offline"
        status, refused = call(base, "POST", "/v2/sessions", {"target_compute_id": compute_id}, key)
        assert status == 409 and refused["details"][0]["@type"].endswith("RecommendationReport")

        # Restart: same compute id (no new login), back online; resume there.
        agent = start_agent(base, tmp_path, log_path)
        assert wait_for(log_path, r"Registered as compute (comp_\w+)")[-1] == compute_id
        deadline = time.monotonic() + 20
        while len(re.findall("Connected to", open(log_path).read())) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        _, listed = call(base, "GET", "/v2/computes", key=key)
        assert next(c for c in listed["computes"] if c["compute_id"] == compute_id)["status"] == "online"
        status, resumed = call(base, "POST", f"/v2/sessions/{sid}/resume", {}, key)
        assert status == 200 and resumed["compute_id"] == compute_id and resumed["session_id"] == sid, resumed
        _, ran = call(base, "POST", f"/v2/sessions/{sid}/run", {"code": "cat f.txt"}, key)
        assert ran["result"]["stdout"] == "on-relay\n"  # high persistence kept the workspace

        # The gateway restarts under the running agent: it reconnects by
        # itself, with backoff, to the same compute.
        assert stop_stack(stack) == 0
        stack = start_stack(tmp_path, port)
        deadline = time.monotonic() + 60
        while len(re.findall("Connected to", open(log_path).read())) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(re.findall(r"Registered as compute (comp_\w+)", open(log_path).read())) >= 3
        assert set(re.findall(r"Registered as compute (comp_\w+)", open(log_path).read())) == {compute_id}
        _, listed = call(base, "GET", "/v2/computes", key=key)
        assert next(c for c in listed["computes"] if c["compute_id"] == compute_id)["status"] == "online"
        _, again = call(base, "POST", "/v2/sessions", {"target_compute_id": compute_id}, key)
        _, ran = call(base, "POST", f"/v2/sessions/{again['session_id']}/run", {"code": "echo back"}, key)
        assert ran["result"]["stdout"] == "back\n"

        # Unregister.
        assert call(base, "DELETE", f"/v2/computes/{compute_id}", key=other)[0] == 404
        status, gone = call(base, "DELETE", f"/v2/computes/{compute_id}", key=key)
        assert status == 200 and gone["unregistered"]
        _, listed = call(base, "GET", "/v2/computes", key=key)
        assert compute_id not in {c["compute_id"] for c in listed["computes"]}
    finally:
        if agent is not None and agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=20)
        assert stop_stack(stack) == 0


async def test_two_relay_replicas_route_calls_to_the_one_holding_the_socket(stack, tmp_path, monkeypatch):
    from services.relay.__main__ import start as start_relay

    api = stack.api
    key = await api.login()
    # A second replica on the same database; the compute service talks to the first.
    second_ws = f"127.0.0.1:{free_port()}"
    second = await start_relay(f"127.0.0.1:{free_port()}", ws_address=second_ws)
    monkeypatch.setenv("CERVER_RELAY_STATE", str(tmp_path / "relay.json"))
    provider = LocalProvider(tmp_path / "sandboxes", warm=0)
    try:
        async with connected_agent(api, key, provider, tmp_path / "relay.json", "replica-test",
                                   socket_url=f"http://{second_ws}") as agent:
            compute_id = agent.state.compute_id
            status, s, text, _ = await api.call("POST", "/v2/sessions", {"target_compute_id": compute_id}, key=key)
            assert status == 200, text
            status, ran, text, _ = await api.call("POST", f"/v2/sessions/{s['session_id']}/run",
                                                  {"code": "echo via-second-replica"}, key=key)
            assert ran["result"]["stdout"] == "via-second-replica\n", text
            hub = second.handlers[0].hub
            first_hub = stack.hosts["relay"].handlers[0].hub
            assert compute_id in hub.links and compute_id not in first_hub.links
            connection = await first_hub.connection(compute_id)
            assert connection.replica_id == hub.replica_id
    finally:
        await second.stop(grace=1)


async def test_the_relays_refusal_reaches_the_client_and_frames_are_bounded(stack):
    import aiohttp

    from servicekit import config

    api = stack.api
    key = await api.login()
    ws_base = api.base.replace("http", "ws", 1) + "/v2/connect/ws"
    auth = {"Authorization": f"Bearer {key}"}
    for query, headers, status, words in (("", auth, 400, "compute_id is required"),
                                          ("?compute_id=comp_nope", auth, 404, "not found"),
                                          ("?compute_id=x", {"Authorization": "Bearer ck_nope"}, 401, "invalid")):
        try:
            async with api.http.ws_connect(ws_base + query, headers=headers):
                raise AssertionError("the relay accepted the socket")
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == status, (query, exc)
        async with api.http.get(api.base + "/v2/connect/ws" + query, headers=headers) as r:
            body = await r.json()
            assert r.status == status and words in body["message"], body
    # A real agent's socket: one frame over the limit closes it (1009), unbuffered.
    _, compute, _, _ = await api.call("POST", "/v2/computes/register", {"name": "frames"}, key=key)
    async with api.http.ws_connect(f"{ws_base}?compute_id={compute['compute_id']}", headers=auth,
                                   max_msg_size=0) as ws:
        try:
            await ws.send_bytes(b"x" * (config.MAX_MESSAGE_BYTES + 1))
            msg = await ws.receive(timeout=30)
            assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING), msg
            assert ws.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG, ws.close_code
        except ConnectionError:
            pass  # closed on us while the frame was still going out: refused as it arrived
    assert (await api.call("GET", "/v2/computes", key=key))[0] == 200  # the edge is fine
