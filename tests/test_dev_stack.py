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
