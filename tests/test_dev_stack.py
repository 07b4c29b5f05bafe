"""`cerver dev` as a user runs it: separate processes, the documented agent
flows (shared conformance), two stacks side by side, a clean stop."""
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from cli.dev import free_port

ROOT = pathlib.Path(__file__).resolve().parent.parent
CONFORMANCE = ROOT.parent / "shared" / "conformance" / "agent_flow.py"
CERVER = pathlib.Path(sys.executable).parent / "cerver"


def start_stack(tmp_path: pathlib.Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "CERVER_HTTP_PORT": str(port), "CERVER_DATA_DIR": str(tmp_path / f"data-{port}")}
    proc = subprocess.Popen([str(CERVER), "dev"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.monotonic() + 90
    seen = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        seen.append(line)
        if "Cerver is running at" in line:
            return proc
        if not line and proc.poll() is not None:
            break
    proc.kill()
    pytest.fail("cerver dev did not start:\n" + "".join(seen[-40:]))


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
