"""`cerver dev` as a user runs it: separate processes, the documented agent
flows (shared conformance), two stacks side by side, a clean stop."""
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from cli.dev import free_port

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFORMANCE = ROOT.parent / "shared" / "conformance" / "agent_flow.py"
CERVER = pathlib.Path(sys.executable).parent / "cerver"


def start_stack(tmp_path: pathlib.Path, port: int, log: pathlib.Path | None = None, **extra: str) -> subprocess.Popen:
    # The embedded default (SQLite in the data folder), whatever the in-process
    # test stack left in this process's environment (its PostgreSQL database).
    env = {**os.environ, "CERVER_HTTP_PORT": str(port), "CERVER_DATA_DIR": str(tmp_path / f"data-{port}"),
           "CERVER_DATABASE_URL": "", **extra}
    for attempt in range(2):
        proc = subprocess.Popen([str(CERVER), "dev"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        deadline = time.monotonic() + 90
        seen = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "Cerver is running at" in line:
                # Keep reading what the stack prints (a full pipe would block its
                # services), into `log` when the test wants to show it.
                threading.Thread(target=_drain, args=(proc.stdout, log), daemon=True).start()
                return proc
            if not line:  # it closed its output: it has stopped, or is stopping
                break
            seen.append(line)
        proc.kill()
        proc.wait(timeout=10)
        said = "".join(seen[-40:])
        # Free ports are picked, released, then bound: another process may
        # take one in between. Only that is tried again, once.
        if attempt == 0 and ("Address already in use" in said or "Failed to bind" in said):
            print("cerver dev lost a port race; starting it again:\n" + said)
            continue
        pytest.fail(f"cerver dev did not start (exit {proc.returncode}):\n" + said)


def _drain(stream, log: pathlib.Path | None) -> None:
    with open(log or os.devnull, "a") as sink:
        for line in stream:
            sink.write(line)
            sink.flush()


def stop_stack(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def processes_mentioning(text: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if text in line and "ps -eo" not in line]


@pytest.mark.skipif(not CONFORMANCE.exists(), reason="shared/conformance is not beside this checkout")
def test_documented_agent_flows_against_cerver_dev(tmp_path):
    port, other_port = free_port(), free_port()
    first = start_stack(tmp_path, port)
    second = start_stack(tmp_path, other_port)
    try:
        flows = subprocess.run([sys.executable, str(CONFORMANCE), f"http://127.0.0.1:{port}"],
                               capture_output=True, text=True, timeout=300)
        assert flows.returncode == 0, flows.stdout[-3000:]
        assert flows.stdout.strip().splitlines()[-1].endswith(" 0 failed")
        with urllib.request.urlopen(f"http://127.0.0.1:{other_port}/", timeout=10) as r:
            assert r.status == 200  # the second stack answers beside the first
    finally:
        codes = [stop_stack(first), stop_stack(second)]
    assert codes == [0, 0]
    time.sleep(0.5)
    assert processes_mentioning(str(tmp_path)) == []  # no sandbox or service left behind
    for p in (port, other_port):
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{p}/", timeout=2)


def stack_processes(port: int, tmp_path: pathlib.Path) -> list[int]:
    """The stack's services (by their environment) and sandboxes (by their paths)."""
    marker, found = f"CERVER_HTTP_PORT={port}".encode(), []
    for entry in pathlib.Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (marker in (entry / "environ").read_bytes().split(b"\0")
                                         or str(tmp_path).encode() in (entry / "cmdline").read_bytes()):
                found.append(int(entry.name))
        except OSError:
            pass  # gone meanwhile, or not ours to read
    return found


def test_a_killed_supervisor_takes_the_stack_with_it(tmp_path):
    port = free_port()
    stack = start_stack(tmp_path, port)
    try:
        assert len(stack_processes(port, tmp_path)) >= 7  # cerver dev, five services, the edge
    finally:
        stack.kill()  # SIGKILL: `cerver dev` gets no chance to stop its children
        stack.wait(timeout=10)
    deadline = time.monotonic() + 30
    while stack_processes(port, tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stack_processes(port, tmp_path) == []
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


def test_a_busy_port_fails_at_once_with_a_clear_message(tmp_path):
    import socket

    port = free_port()
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        env = {**os.environ, "CERVER_HTTP_PORT": str(port), "CERVER_DATA_DIR": str(tmp_path / "data")}
        started = time.monotonic()
        done = subprocess.run([str(CERVER), "dev"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and time.monotonic() - started < 15
    assert f"port {port}" in done.stderr and "already in use" in done.stderr and "Cerver is running" not in done.stdout


def _pid_of(module: str, after: set[str]) -> int:
    for line in processes_mentioning(f"-m {module}"):
        pid = line.split()[0]
        if pid not in after:
            return int(pid)
    raise AssertionError(f"no process runs {module}")


def test_a_crashed_service_is_restarted_and_callers_get_a_retryable_503(tmp_path):
    import json
    import urllib.error

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    before = {line.split()[0] for line in processes_mentioning("-m services.sessions")}
    stack = start_stack(tmp_path, port)
    try:
        req = urllib.request.Request(base + "/v2/auth/login", data=b'{"email": "crash@example.com"}',
                                     headers={"Content-Type": "application/json"}, method="POST")
        key = json.loads(urllib.request.urlopen(req, timeout=30).read())["api_key"]
        sessions_pid = _pid_of("services.sessions", before)
        os.kill(sessions_pid, signal.SIGKILL)
        listed = urllib.request.Request(base + "/v2/sessions", headers={"Authorization": f"Bearer {key}"})
        try:
            urllib.request.urlopen(listed, timeout=30)
            gap = None
        except urllib.error.HTTPError as err:
            gap = (err.code, err.headers.get("Retry-After"), err.read().decode())
        if gap is not None:  # the restart may already have happened
            assert gap[0] == 503 and gap[1] and "127.0.0.1" not in gap[2] and json.loads(gap[2])["message"], gap
        deadline = time.monotonic() + 30
        while True:
            try:
                assert urllib.request.urlopen(listed, timeout=30).status == 200
                break
            except urllib.error.HTTPError:
                assert time.monotonic() < deadline, "sessions was not restarted"
                time.sleep(0.3)
        assert _pid_of("services.sessions", before | {str(sessions_pid)}) != sessions_pid
    finally:
        stop_stack(stack)


def test_kill_9_under_load_loses_no_committed_entry_and_no_sandbox(tmp_path):
    """Runs on four sessions while compute, sessions, the relay and the edge
    are each killed outright in turn. Every run that was answered 200 is in
    its transcript afterwards; every other got a retryable answer (503 with
    Retry-After, or a refused connection while the edge restarts); each
    session keeps its sandbox, with what was written in it."""
    import asyncio
    import collections

    import aiohttp

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    before = {name: {line.split()[0] for line in processes_mentioning(f"-m {name}")}
              for name in ("services.compute", "services.sessions", "services.relay", "gateway")}
    log = tmp_path / "stack.log"
    stack = start_stack(tmp_path, port, log)

    async def scenario():
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            async with http.post(base + "/v2/auth/login", json={"email": "kill9@example.com"}) as r:
                key = (await r.json())["api_key"]
            auth = {"Authorization": f"Bearer {key}"}
            sessions = []
            for _ in range(4):
                async with http.post(base + "/v2/sessions", json={}, headers=auth) as r:
                    s = await r.json()
                    assert r.status == 200, (s, log.read_text()[-3000:])
                async with http.post(f"{base}/v2/sessions/{s['session_id']}/run", json={"code": "echo kept > f"},
                                     headers=auth) as r:
                    assert r.status == 200
                sessions.append(s)
            committed, refused, stop = {s["session_id"]: [] for s in sessions}, [], asyncio.Event()

            async def load(sid: str) -> None:
                n = 0
                while not stop.is_set():
                    n += 1
                    try:
                        async with http.post(f"{base}/v2/sessions/{sid}/run", json={"code": f"echo run-{n}"},
                                             headers=auth) as r:
                            body = await r.json(content_type=None)
                            if r.status == 200:
                                assert body["result"]["stdout"] == f"run-{n}\n"
                                committed[sid].append(n)
                            else:
                                refused.append((r.status, r.headers.get("Retry-After"), body))
                    except aiohttp.ClientConnectionError:
                        refused.append(("connection", None, None))  # the edge itself is restarting
                        await asyncio.sleep(0.2)

            runners = [asyncio.create_task(load(s["session_id"])) for s in sessions]
            for name in ("services.compute", "services.sessions", "services.relay", "gateway"):
                await asyncio.sleep(1.5)
                os.kill(_pid_of(name, before[name]), signal.SIGKILL)
            await asyncio.sleep(4)  # the last one comes back, and runs go on
            stop.set()
            await asyncio.gather(*runners)
            print("answered 200:", sum(map(len, committed.values())), "refused:",
                  collections.Counter(status for status, _, _ in refused))
            assert [r for r in refused if r[0] not in (503, "connection")] == []
            assert all(retry for status, retry, _ in refused if status == 503), refused
            for s in sessions:
                sid = s["session_id"]
                assert committed[sid], "no run got through"
                for _ in range(100):  # the last one killed may still be coming back on a busy host
                    try:
                        async with http.get(f"{base}/v2/sessions/{sid}?full=1", headers=auth) as r:
                            if r.status == 200:
                                after = await r.json()
                                break
                    except aiohttp.ClientConnectionError:
                        pass
                    await asyncio.sleep(0.3)
                else:
                    raise AssertionError("the stack did not come back:\n" + log.read_text()[-3000:])
                codes = {e["content"] for e in after["transcript"] if e["kind"] == "code"}
                assert {f"echo run-{n}" for n in committed[sid]} <= codes
                assert after["status"] != "paused" and after["sandbox_id"] == s["sandbox_id"], after["events"][-3:]
                async with http.post(f"{base}/v2/sessions/{sid}/run", json={"code": "cat f"}, headers=auth) as r:
                    assert (await r.json())["result"]["stdout"] == "kept\n"

    try:
        asyncio.run(scenario())
    finally:
        stop_stack(stack)


def test_a_second_replica_serves_while_one_is_killed(tmp_path):
    """`cerver dev` with two replicas of sessions and compute (callers balance
    over both): while one replica of each is killed outright, runs keep being
    answered by the other; only runs in flight on the killed one get a
    retryable 503, and every answered run is in its transcript."""
    import asyncio
    import time as clock

    import aiohttp

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    before = {m: {line.split()[0] for line in processes_mentioning(f"-m {m}")}
              for m in ("services.sessions", "services.compute")}
    log = tmp_path / "stack.log"
    stack = start_stack(tmp_path, port, log, CERVER_DEV_REPLICAS="2")

    async def scenario():
        replicas = {m: [line.split()[0] for line in processes_mentioning(f"-m {m}") if line.split()[0] not in
                        before[m]] for m in before}
        assert all(len(pids) == 2 for pids in replicas.values()), replicas
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            async with http.post(base + "/v2/auth/login", json={"email": "replicas@example.com"}) as r:
                auth = {"Authorization": f"Bearer {(await r.json())['api_key']}"}
            sessions = []
            for _ in range(4):
                async with http.post(base + "/v2/sessions", json={}, headers=auth) as r:
                    assert r.status == 200, log.read_text()[-3000:]
                    sessions.append((await r.json())["session_id"])
            answered, refused, stop = [], [], asyncio.Event()

            async def load(sid: str) -> None:
                n = 0
                while not stop.is_set():
                    n += 1
                    async with http.post(f"{base}/v2/sessions/{sid}/run", json={"code": f"echo run-{n}"},
                                         headers=auth) as r:
                        body = await r.json(content_type=None)
                        if r.status == 200:
                            assert body["result"]["stdout"] == f"run-{n}\n"
                            answered.append((clock.monotonic(), sid, n))
                        else:
                            refused.append((r.status, r.headers.get("Retry-After"), body))

            runners = [asyncio.create_task(load(sid)) for sid in sessions]
            await asyncio.sleep(1)
            for module, pids in replicas.items():
                killed_at = clock.monotonic()
                os.kill(int(pids[0]), signal.SIGKILL)
                await asyncio.sleep(0.4)  # `cerver dev` restarts it after 0.5 s: the other serves meanwhile
                served = [a for a in answered if killed_at + 0.05 < a[0] < killed_at + 0.4]
                assert served, f"no run answered while a {module} replica was down"
                await asyncio.sleep(1.5)
            stop.set()
            await asyncio.gather(*runners)
            assert all(status == 503 and retry for status, retry, _ in refused), refused
            assert len(refused) <= 8, refused  # at most the runs in flight on each killed replica
            for sid in sessions:
                async with http.get(f"{base}/v2/sessions/{sid}?full=1", headers=auth) as r:
                    codes = {e["content"] for e in (await r.json())["transcript"] if e["kind"] == "code"}
                assert {f"echo run-{n}" for _, s, n in answered if s == sid} <= codes

    try:
        asyncio.run(scenario())
    finally:
        stop_stack(stack)
