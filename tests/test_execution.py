"""Execution on real bubblewrap sandboxes: runs, streams, isolation,
timeouts, concurrency, the lifecycle and metrics taken from spans."""
import asyncio
import json
import os
import signal
from datetime import timedelta

import pytest
from sqlalchemy import update

from servicekit.clock import now
from services.sessions.store import SessionRow
from tests.conftest import SPANS


async def _session(api, key, **requirements):
    body = {"task": "test", "session_name": "exec", "requirements": {"runtime": "shell", **requirements}}
    status, s, text, _ = await api.call("POST", "/v2/sessions", body, key=key)
    assert status == 200 and s["status"] == "ready", text
    return s


async def _run(api, key, sid, code, **extra):
    status, body, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run", {"code": code, **extra}, key=key)
    assert status == 200, text
    return body["result"]


async def test_what_code_means_follows_one_rule(api):
    """The documented examples all run: spec/001's `console.log('hi')` on a
    session that names no runtime, spec/004's `npm test` on a node session,
    spec/003's `echo … && node -v` on a shell one. A run's `runtime` decides
    when it names one."""
    key = await api.login()

    async def session(runtime: str | None) -> str:
        body = {"requirements": {"runtime": runtime}} if runtime else {}
        status, s, text, _ = await api.call("POST", "/v2/sessions", body, key=key)
        assert status == 200, text
        return s["session_id"]

    plain, node, shell, python = [await session(r) for r in (None, "node", "shell", "python")]
    assert (await _run(api, key, plain, "console.log('hi')"))["stdout"] == "hi\n"
    assert (await _run(api, key, plain, "echo hello && for i in 1 2; do echo $i; done"))["stdout"] == "hello\n1\n2\n"
    await _run(api, key, node, 'echo \'{"scripts": {"test": "echo tested"}}\' > package.json')
    tested = await _run(api, key, node, "npm test")
    assert tested["exit_code"] == 0 and "tested" in tested["stdout"], tested
    assert (await _run(api, key, node, "const a = [1, 2]; console.log(a.length)"))["stdout"] == "2\n"
    ran = await _run(api, key, shell, "echo hello from cerver && node -v")
    assert ran["stdout"].startswith("hello from cerver\nv"), ran
    assert (await _run(api, key, python, "x = 6\nfor i in range(2):\n    x *= 7 if i else 1\nprint(x)"))["stdout"] \
        == "42\n"
    assert (await _run(api, key, python, "python3 -c 'print(1)'"))["stdout"] == "1\n"  # a program: a command line
    assert (await _run(api, key, python, "GREETING=hi sh -c 'echo $GREETING'"))["stdout"] == "hi\n"
    # Named on the run, the language decides.
    assert (await _run(api, key, shell, "print('py')", runtime="python"))["stdout"] == "py\n"
    assert (await _run(api, key, node, "echo sh", runtime="shell"))["stdout"] == "sh\n"
    for sid in (plain, node, shell, python):
        await api.call("DELETE", f"/v2/sessions/{sid}", key=key)


async def test_run_runtimes_stdin_env_and_result_shape(api):
    key = await api.login()
    s = await _session(api, key)
    sid = s["session_id"]
    assert s["provider"] == "local" and s["compute_id"].startswith("comp_local_") and s["sandbox_id"].startswith("sbx_")
    assert s["routing"]["recommended_provider"] == "local" and s["metrics"]["provision_time_ms"] > 0
    status, body, _, _ = await api.call("POST", f"/v2/sessions/{sid}/run", {"code": "echo hi"}, key=key)
    assert body["session_id"] == sid and body["duration_ms"] > 0
    assert body["result"] == {"stdout": "hi\n", "stderr": "", "exit_code": 0, "timed_out": False, "truncated": False,
                              "reason": ""}
    assert (await _run(api, key, sid, "print(6*7)", runtime="python"))["stdout"] == "42\n"
    assert (await _run(api, key, sid, "console.log([1,2].length)", runtime="node"))["stdout"] == "2\n"
    assert (await _run(api, key, sid, "cat", stdin="from stdin"))["stdout"] == "from stdin"
    assert (await _run(api, key, sid, "echo $GREETING", env={"GREETING": "hello"}))["stdout"] == "hello\n"
    failed = await _run(api, key, sid, "echo bad >&2; exit 7")
    assert failed["exit_code"] == 7 and failed["stderr"] == "bad\n"
    _, s2, _, _ = await api.call("GET", f"/v2/sessions/{sid}?tail=2", key=key)
    code, result = s2["transcript"]
    assert code["kind"] == "code" and code["content"] == "echo bad >&2; exit 7"
    assert result["kind"] == "result" and result["metadata"]["exit_code"] == 7 and "bad" in result["content"]


async def test_large_stdin_and_pipelines_behave_as_in_a_shell(api):
    key = await api.login()
    sid = (await _session(api, key))["session_id"]
    big = "x" * 300_000  # several pipe buffers
    assert (await _run(api, key, sid, "wc -c", stdin=big))["stdout"].strip() == "300000"
    partial = await _run(api, key, sid, "head -c 5", stdin=big)  # stops reading early
    assert partial["stdout"] == "xxxxx" and partial["exit_code"] == 0
    # SIGPIPE and SIGXFSZ have their default actions (Python, which runs the
    # sandbox's agent, ignores them), so `yes` ends quietly when head leaves.
    piped = await _run(api, key, sid, "yes | head -n 2; grep SigIgn /proc/$$/status")
    assert piped["stdout"].startswith("y\ny\nSigIgn:") and piped["stderr"] == "", piped
    ignored = int(piped["stdout"].split()[-1], 16)
    assert not ignored & (1 << (signal.SIGPIPE - 1) | 1 << (signal.SIGXFSZ - 1)), hex(ignored)


async def test_bad_runs_are_rejected(api):
    key = await api.login()
    sid = (await _session(api, key))["session_id"]
    for body in ({}, {"code": "   "}, {"code": "x", "runtime": "cobol"}, {"code": "x", "timeout": 0},
                 {"code": "x", "timeout": 99999}):
        status, err, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run", body, key=key)
        assert status == 400 and err["message"], (body, text)


async def test_sandbox_cannot_see_other_sandboxes_host_env_or_network(stack):
    api = stack.api
    key, other_key = await api.login(), await api.login()
    mine = (await _session(api, key))["session_id"]
    theirs = (await _session(api, other_key))["session_id"]
    await _run(api, other_key, theirs, "echo top-secret > secret.txt")
    os.environ["CERVER_TEST_HOST_SECRET"] = "do-not-leak"  # the host's environment
    try:
        probe = await _run(api, key, mine, (
            "env; echo ---; ls / ; echo ---; find / -name secret.txt 2>/dev/null; "
            f"ls {stack.env['CERVER_DATA_DIR']} 2>&1; cat /proc/1/environ 2>&1 | tr '\\0' '\\n'; id -u"))
    finally:
        del os.environ["CERVER_TEST_HOST_SECRET"]
    out = probe["stdout"] + probe["stderr"]
    assert "top-secret" not in out and "secret.txt" not in out
    assert "do-not-leak" not in out and "CERVER_SERVICE_TOKEN" not in out and stack.env["CERVER_SERVICE_TOKEN"] not in out
    assert "No such file" in out  # the data folder is not there
    assert probe["stdout"].strip().endswith("1000")
    edge_port = api.base.rsplit(":", 1)[1]
    reach = f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {edge_port}), 2); print('reached')\""
    blocked = await _run(api, key, mine, reach)
    assert blocked["exit_code"] != 0 and "reached" not in blocked["stdout"]
    # With network, the sandbox has its own interface and route out, and the
    # host's loopback (Cerver itself) is still out of reach.
    networked = (await _session(api, key, package_install=True))["session_id"]
    routes = await _run(api, key, networked, "cat /proc/net/route; cat /etc/resolv.conf")
    assert "tap0\t00000000" in routes["stdout"] and "10.0.2.3" in routes["stdout"]
    refused = await _run(api, key, networked, reach)
    assert refused["exit_code"] != 0 and "reached" not in refused["stdout"]


async def test_timeout_kills_the_whole_tree(api):
    key = await api.login()
    sid = (await _session(api, key))["session_id"]
    result = await _run(api, key, sid, "sleep 31 & (setsid sleep 32 &); sh -c 'sleep 33' & sleep 34", timeout=1)
    assert result["timed_out"] and result["exit_code"] == 124
    await asyncio.sleep(0.2)
    left = await _run(api, key, sid, "ps -eo args")
    assert not any(f"sleep 3{i}" in left["stdout"] for i in range(1, 5)), left["stdout"]


async def test_background_process_outlives_its_run(api):
    key = await api.login()
    sid = (await _session(api, key))["session_id"]
    result = await _run(api, key, sid, "sleep 60 & echo started")
    assert result["stdout"] == "started\n" and not result["timed_out"]
    assert "sleep 60" in (await _run(api, key, sid, "ps -eo args"))["stdout"]


async def test_output_over_the_cap_is_truncated_with_a_marker(api):
    key = await api.login()
    sid = (await _session(api, key))["session_id"]
    result = await _run(api, key, sid, "i=0; while [ $i -lt 40000 ]; do echo line-$i-padding-padding-padding; i=$((i+1)); done")
    assert result["truncated"] and "[output truncated" in result["stdout"]
    body = result["stdout"].split("\n[output truncated")[0]
    assert all(line.startswith("line-") and line.endswith("padding") for line in body.splitlines())


async def test_concurrent_runs_on_one_session_lose_nothing(api):
    key = await api.login()
    sid = (await _session(api, key))["session_id"]
    results = await asyncio.gather(*(_run(api, key, sid, f"echo run-{i}") for i in range(24)))
    assert sorted(r["stdout"] for r in results) == sorted(f"run-{i}\n" for i in range(24))
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}?full=1", key=key)
    assert len(s["transcript"]) == 48 and [e["seq"] for e in s["transcript"]] == list(range(1, 49))
    _, m, _, _ = await api.call("GET", f"/v2/sessions/{sid}/metrics", key=key)
    assert m["metrics"]["total_exec_count"] == 24 and m["metrics"]["interaction_count"] == 24


async def _sse(api, key, sid, code):
    events = []
    async with api.http.post(f"{api.base}/v2/sessions/{sid}/run/stream", json={"code": code},
                             headers={"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}) as r:
        async for line in r.content:
            if line.startswith(b"data: "):
                events.append(json.loads(line[6:]))
        return r.status, r.headers, events


async def test_stream_sends_chunks_as_they_happen(api):
    key = await api.login()
    sid = (await _session(api, key))["session_id"]
    status, headers, events = await _sse(api, key, sid, "echo one; sleep 0.3; echo two >&2; exit 4")
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    assert headers["X-Cerver-Session-Id"] == sid and headers["X-Cerver-Provider"] == "local"
    assert float(headers["X-Cerver-Stream-Latency-Ms"]) > 0
    # First, that the process runs (before any output); then its output as it comes.
    assert [(e["type"], e["data"]) for e in events[:3]] == [("started", ""), ("stdout", "one\n"), ("stderr", "two\n")]
    assert events[-1]["type"] == "exit" and events[-1]["exit_code"] == 4
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}?tail=1", key=key)
    assert s["transcript"][0]["metadata"]["stream"] is True
    status, _, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run/stream", {}, key=key)
    assert status == 400 and json.loads(text)["message"]


async def test_stream_client_disconnect_stops_the_run_and_leaks_nothing(api):
    key = await api.login()
    sid = (await _session(api, key))["session_id"]
    async with api.http.post(f"{api.base}/v2/sessions/{sid}/run/stream", json={"code": "echo first; sleep 45; echo never"},
                             headers={"Authorization": f"Bearer {key}"}) as r:
        async for line in r.content:
            if line.startswith(b"data: ") and json.loads(line[6:])["type"] == "stdout":
                break  # leave after the first output
    for _ in range(50):
        await asyncio.sleep(0.1)
        if "sleep 45" not in (await _run(api, key, sid, "ps -eo args"))["stdout"]:
            break
    else:
        pytest.fail("the abandoned run is still going")
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}?full=1", key=key)
    recorded = [e for e in s["transcript"] if e["content"] == "echo first; sleep 45; echo never"]
    assert recorded, "the interrupted run is in the transcript"
    assert (await _run(api, key, sid, "echo still-fine"))["stdout"] == "still-fine\n"


async def test_pause_resume_keeps_id_and_files_by_persistence(api):
    key = await api.login()
    for persistence, kept in (("high", True), ("low", False)):
        s = await _session(api, key, persistence_level=persistence)
        sid = s["session_id"]
        await _run(api, key, sid, "echo kept > state.txt")
        status, paused, _, _ = await api.call("POST", f"/v2/sessions/{sid}/pause", {}, key=key)
        assert status == 200 and paused["status"] == "paused" and paused["state"] == "idle" and "sandbox_id" not in paused
        status, err, _, _ = await api.call("POST", f"/v2/sessions/{sid}/run", {"code": "true"}, key=key)
        assert status == 409 and "paused" in err["message"]
        status, resumed, _, _ = await api.call("POST", f"/v2/sessions/{sid}/resume", {}, key=key)
        assert status == 200 and resumed["session_id"] == sid and resumed["status"] == "ready"
        assert resumed["sandbox_id"] != s["sandbox_id"]
        out = await _run(api, key, sid, "cat state.txt 2>/dev/null || echo gone")
        assert out["stdout"] == ("kept\n" if kept else "gone\n")
        _, full, _, _ = await api.call("GET", f"/v2/sessions/{sid}", key=key)
        types = [e["type"] for e in full["events"]]
        assert types[:4] == ["created", "provisioned", "paused", "resumed"]


async def test_spawn_swap_and_terminate(api):
    key = await api.login()
    parent = await _session(api, key)
    pid = parent["session_id"]
    status, child, text, _ = await api.call("POST", f"/v2/sessions/{pid}/spawn",
                                            {"task": "parallel", "session_name": "kid"}, key=key)
    assert status == 200 and child["parent_session_id"] == pid and child["compute_id"] == parent["compute_id"], text
    assert child["session_name"] == "kid" and child["sandbox_id"] != parent["sandbox_id"]
    assert (await _run(api, key, child["session_id"], "echo child"))["stdout"] == "child\n"

    status, swapped, _, _ = await api.call("POST", f"/v2/sessions/{pid}/compute", {"compute": {"provider": "local"}},
                                           key=key)
    assert status == 200 and swapped["sandbox_id"] != parent["sandbox_id"] and swapped["session_id"] == pid
    status, err, _, _ = await api.call("POST", f"/v2/sessions/{pid}/compute", {"compute": {"provider": "vercel"}},
                                       key=key)
    assert status == 409 and err["details"][0]["@type"].endswith("cerver.v2.RecommendationReport")
    status, released, _, _ = await api.call("POST", f"/v2/sessions/{pid}/compute", {"compute": None}, key=key)
    assert status == 200 and released["provider"] == "none" and "sandbox_id" not in released

    status, ended, _, _ = await api.call("DELETE", f"/v2/sessions/{child['session_id']}", key=key)
    assert ended["status"] == "terminated" and "sandbox_id" not in ended
    for path, body in (("run", {"code": "true"}), ("pause", {}), ("resume", {}), ("spawn", {})):
        status, err, _, _ = await api.call("POST", f"/v2/sessions/{child['session_id']}/{path}", body, key=key)
        assert status == 409 and err["message"], path


async def test_timeout_minutes_ends_sessions(stack):
    api = stack.api
    key = await api.login()
    sid = (await _session(api, key, timeout_minutes=1))["session_id"]
    other = (await _session(api, key, timeout_minutes=1))["session_id"]
    # Move the clock past the deadline by moving the deadline.
    store = _sessions_domain(stack).store
    async with store.db.session() as s:
        await s.exec(update(SessionRow).where(SessionRow.session_id.in_([sid, other]))
                     .values(expires_at=now() - timedelta(seconds=1)))
    status, err, _, _ = await api.call("POST", f"/v2/sessions/{sid}/run", {"code": "true"}, key=key)
    assert status == 409 and "timeout" in err["message"]
    assert await _sessions_domain(stack).reap_expired() >= 1
    for session_id in (sid, other):
        _, s, _, _ = await api.call("GET", f"/v2/sessions/{session_id}", key=key)
        assert s["status"] == "terminated" and s["end_reason"] == "timeout" and "sandbox_id" not in s
        assert s["events"][-1]["type"] == "timed_out"


def _sessions_domain(stack):
    """The running sessions service's domain object (in-process stack)."""
    for handler in stack.hosts["sessions"].handlers:
        return handler.sessions
    raise AssertionError("no sessions handler")


async def test_metrics_come_from_spans(api):
    key = await api.login()
    sid = (await _session(api, key))["session_id"]
    SPANS.clear()
    await _run(api, key, sid, "sleep 0.2")
    await _sse(api, key, sid, "echo s")
    spans = {s.name: s for s in SPANS.get_finished_spans() if (s.attributes or {}).get("cerver.session_id") == sid}
    assert {"session.exec", "session.stream_open"} <= set(spans)
    exec_ms = (spans["session.exec"].end_time - spans["session.exec"].start_time) / 1e6
    _, view, _, _ = await api.call("GET", f"/v2/sessions/{sid}/metrics", key=key)
    m = view["metrics"]
    assert view["session_id"] == sid and view["provider"] == "local" and view["routing"]["recommended_provider"]
    assert m["last_exec_latency_ms"] == pytest.approx(exec_ms, abs=0.01) and exec_ms >= 200
    assert m["average_stream_open_latency_ms"] > 0 and m["total_stream_count"] == 1 and m["total_exec_count"] == 1
    assert m["time_to_first_exec_ms"] > 0 and m["session_length_ms"] > 0
    assert m["engagement_label"] in ("warming", "engaged", "deep") and 0 <= m["engagement_score"] <= 1
    assert m["cost_estimate_usd"] == 0 and m["uptime_percent"] > 90 and m["predicted_startup_ms"] > 0


async def test_sandbox_contract_directly(api):
    key = await api.login()
    status, box, text, _ = await api.call("POST", "/v2/sandbox", {"provider": "local"}, key=key)
    assert status == 200 and box["sandbox_id"].startswith("sbx_"), text
    base = f"/v2/sandbox/{box['sandbox_id']}"
    assert (await api.call("POST", f"{base}/files", {"path": "dir/a.txt", "content": "hello"}, key=key))[1]["size"] == 5
    _, f, _, _ = await api.call("GET", f"{base}/files?path=dir/a.txt", key=key)
    assert f["content"] == "hello" and f["encoding"] == "utf-8"
    assert (await api.call("GET", f"{base}/files?path=nope.txt", key=key))[0] == 404
    assert (await api.call("POST", f"{base}/files", {"path": "../escape", "content": "x"}, key=key))[0] == 400
    assert (await api.call("GET", f"{base}/files?path=/etc/passwd", key=key))[0] == 400
    _, r, _, _ = await api.call("POST", f"{base}/run", {"code": "cat dir/a.txt"}, key=key)
    assert r["stdout"] == "hello"
    assert (await api.call("PUT", f"{base}/state", {"state": {"step": 2}}, key=key))[0] == 200
    assert (await api.call("GET", f"{base}/state", key=key))[1]["state"] == {"step": 2.0}
    # (installs themselves: tests/test_packages.py, against a local index)
    assert (await api.call("POST", f"{base}/packages", {"manager": "pip", "packages": ["-x"]}, key=key))[0] == 400
    other = await api.login()
    assert (await api.call("POST", f"{base}/run", {"code": "true"}, key=other))[0] == 404
    assert (await api.call("DELETE", base, key=key))[1]["deleted"] is True
    assert (await api.call("POST", f"{base}/run", {"code": "true"}, key=key))[0] == 404


async def test_computes_registry(api):
    key = await api.login()
    status, body, _, _ = await api.call("GET", "/v2/computes", key=key)
    local = body["computes"][0]
    assert status == 200 and local["provider"] == "local" and local["status"] == "online" and local["kind"] == "shared"
    assert "shell" in local["capabilities"]["runtimes"] and local["capabilities"]["isolated"] is True
    status, one, _, _ = await api.call("GET", f"/v2/computes/{local['compute_id']}", key=key)
    assert one["compute_id"] == local["compute_id"]
    assert (await api.call("GET", "/v2/computes/comp_nope", key=key))[0] == 404
    assert (await api.call("DELETE", f"/v2/computes/{local['compute_id']}", key=key))[0] == 403


async def test_new_session_pinned_to_a_planned_provider_is_409_with_the_report(api):
    key = await api.login()
    status, err, text, _ = await api.call("POST", "/v2/sessions", {"compute": {"provider": "e2b"}}, key=key)
    assert status == 409, text
    report = err["details"][0]
    assert report["@type"] == "type.googleapis.com/cerver.v2.RecommendationReport"
    e2b = next(p for p in report["providers"] if p["name"] == "e2b")
    assert e2b["status"] == "filtered" and "not executable" in e2b["reason"]
    assert report["human_summary"]["next_action"]
    _, listed, _, _ = await api.call("GET", "/v2/sessions", key=key)
    assert listed["sessions"] == []  # nothing half-made is left behind


async def test_a_run_never_uses_a_stale_sandbox(stack):
    """Another sessions replica swaps or ends the session: this one's cached
    row is stale, the compute says the sandbox is gone, the run reads afresh."""
    api = stack.api
    key = await api.login()
    s = await _session(api, key)
    sid = s["session_id"]
    assert (await _run(api, key, sid, "echo warm"))["stdout"] == "warm\n"  # now cached
    store = _sessions_domain(stack).store
    account = (await api.call("GET", "/v2/auth/account", key=key))[1]["account_id"]

    # The other replica swapped compute: new sandbox, old one deleted.
    _, box, _, _ = await api.call("POST", "/v2/sandbox", {"provider": "local"}, key=key)
    await store.update(account, sid, None, sandbox_id=box["sandbox_id"])
    assert (await api.call("DELETE", f"/v2/sandbox/{s['sandbox_id']}", key=key))[0] == 200
    assert (await _run(api, key, sid, "echo swapped"))["stdout"] == "swapped\n"

    # The other replica ended the session.
    await store.update(account, sid, None, status="terminated", end_reason="terminated_by_user", sandbox_id=None)
    await api.call("DELETE", f"/v2/sandbox/{box['sandbox_id']}", key=key)
    status, err, _, _ = await api.call("POST", f"/v2/sessions/{sid}/run", {"code": "echo no"}, key=key)
    assert status == 409 and "terminated" in err["message"]


async def test_a_run_that_prints_nul_is_recorded(api):
    """PostgreSQL text cannot hold NUL: the transcript keeps U+FFFD in its place; the reply has the bytes."""
    key = await api.login()
    sid = (await _session(api, key))["session_id"]
    result = await _run(api, key, sid, "printf 'a\\000b'; printf 'c\\000d' >&2")
    assert result["stdout"] == "a\u0000b" and result["stderr"] == "c\u0000d"
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}?tail=1", key=key)
    assert s["transcript"][-1]["content"] == "a\ufffdb\n[stderr]\nc\ufffdd"


async def test_files_list_exists_and_delete(api):
    key = await api.login()
    status, sandbox, text, _ = await api.call("POST", "/v2/sandbox", {}, key=key)
    assert status == 200, text
    base = f"/v2/sandbox/{sandbox['sandbox_id']}/files"
    for path in ("dir/a.txt", "dir/sub/b.bin", "top.txt"):
        assert (await api.call("POST", base, {"path": path, "content": "x" * 3}, key=key))[0] == 200
    _, listed, _, _ = await api.call("GET", f"{base}/list", key=key)
    by_name = {e["name"]: e for e in listed["entries"]}
    assert {"dir", "top.txt"} <= set(by_name) and by_name["dir"]["type"] == "dir"
    assert by_name["top.txt"]["type"] == "file" and by_name["top.txt"]["size"] == "3" and by_name["top.txt"]["modified_at"]
    _, listed, _, _ = await api.call("GET", f"{base}/list?path=dir", key=key)
    assert [(e["name"], e["path"], e["type"]) for e in listed["entries"]] == [("a.txt", "dir/a.txt", "file"),
                                                                              ("sub", "dir/sub", "dir")]
    assert (await api.call("GET", f"{base}/exists?path=dir/a.txt", key=key))[1] == \
        {"path": "dir/a.txt", "exists": True, "type": "file"}
    assert (await api.call("GET", f"{base}/exists?path=nope", key=key))[1]["exists"] is False
    assert (await api.call("DELETE", f"{base}?path=dir", key=key))[1]["deleted"] is True  # a folder, with its files
    assert (await api.call("GET", f"{base}/exists?path=dir/sub/b.bin", key=key))[1]["exists"] is False
    assert (await api.call("DELETE", f"{base}?path=dir", key=key))[0] == 404
    assert (await api.call("GET", f"{base}/list?path=top.txt", key=key))[0] == 400  # not a folder
    assert (await api.call("GET", f"{base}/list?path=missing", key=key))[0] == 404
    for escape in ("../..", "dir/../../etc", "/etc"):
        assert (await api.call("GET", f"{base}/list?path={escape}", key=key))[0] == 400, escape
        assert (await api.call("DELETE", f"{base}?path={escape}", key=key))[0] == 400, escape
    assert (await api.call("DELETE", f"{base}?path=.", key=key))[0] == 400  # the workspace itself
    other = await api.login()
    assert (await api.call("GET", f"{base}/list", key=other))[0] == 404
    await api.call("DELETE", f"/v2/sandbox/{sandbox['sandbox_id']}", key=key)


async def test_a_sessions_files_are_its_sandboxs(api):
    key = await api.login()
    s = await _session(api, key)
    base = f"/v2/sessions/{s['session_id']}/files"
    blob = bytes(range(256))
    import base64
    status, info, text, _ = await api.call("POST", base, {"path": "out/blob.bin", "encoding": "base64",
                                                           "content": base64.b64encode(blob).decode()}, key=key)
    assert status == 200 and info["size"] == 256, text
    assert (await _run(api, key, s["session_id"], "wc -c < out/blob.bin"))["stdout"].strip() == "256"
    _, got, _, _ = await api.call("GET", f"{base}?path=out/blob.bin&encoding=base64", key=key)
    assert base64.b64decode(got["content"]) == blob
    assert (await api.call("GET", f"{base}/list?path=out", key=key))[1]["entries"][0]["name"] == "blob.bin"
    assert (await api.call("GET", f"{base}/exists?path=out/blob.bin", key=key))[1]["exists"] is True
    assert (await api.call("DELETE", f"{base}?path=out/blob.bin", key=key))[1]["deleted"] is True
    assert (await api.call("GET", f"{base}?path=out/blob.bin", key=key))[0] == 404
    assert (await api.call("GET", f"{base}?path=../../etc/passwd", key=key))[0] == 400
    other = await api.login()
    assert (await api.call("GET", f"{base}/list", key=other))[0] == 404  # another account's session
    await api.call("POST", f"/v2/sessions/{s['session_id']}/pause", {}, key=key)
    assert (await api.call("GET", f"{base}/list", key=key))[0] == 409  # no compute attached: resume first
