"""The image (Dockerfile, `make image`) as a platform team runs it: the
whole stack starts from it and serves sandboxes; the services run as their
unprivileged user on a read-only root; and the node runtime refuses to
serve where a sandbox cannot be built as it must be: runc's masked /proc
(what an unprivileged Kubernetes pod gets), where bubblewrap cannot mount
a sandbox's own /proc.

Podman runs the containers (no Docker engine here), with runc: crun refuses
this machine's hybrid cgroup layout."""
import json
import pathlib
import resource
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from cli.dev import free_port

ROOT = pathlib.Path(__file__).resolve().parent.parent
IMAGE = "localhost/cerver:test"
# runc's default masked paths (what Kubernetes pods get unless privileged).
MASKED = ("/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware")


def podman(*args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess:
    # Limits no higher than this process's own: raising them needs a
    # capability these machines do not give.
    files = min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 65536)
    limits = ["--ulimit", f"nofile={files}:{files}", "--ulimit", "nproc=4096:4096"] if args[0] == "run" else []
    return subprocess.run(["podman", "--runtime", "runc", args[0], *limits, *args[1:]], capture_output=True,
                          text=True, timeout=timeout, check=check)


@pytest.fixture(scope="module")
def image():
    built = subprocess.run(["make", "image", f"IMAGE={IMAGE}"], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    subprocess.run(["podman", "image", "prune", "-f"], capture_output=True, timeout=120)  # earlier builds' layers
    return IMAGE


def _call(base: str, method: str, path: str, body=None, key: str | None = None):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {key}"} if key else {})})
    with urllib.request.urlopen(request, timeout=120) as answer:
        return json.loads(answer.read())


def test_the_stack_runs_from_the_image_and_serves_isolated_sandboxes(image):
    port = free_port()
    name = f"cerver-test-{port}"
    # The node runtime needs what deploy/k8s/node gives it: a privileged container.
    started = podman("run", "-d", "--name", name, "--privileged", "--user", "0", "--network", "host",
                     "-e", f"CERVER_HTTP_PORT={port}", image, "cerver", "dev")
    assert started.returncode == 0, started.stderr
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(base + "/", timeout=2).read()
                break
            except (urllib.error.URLError, OSError):
                logs = podman("logs", name).stdout
                assert time.monotonic() < deadline and "could not start" not in logs, logs[-4000:]
                time.sleep(0.5)
        key = _call(base, "POST", "/v2/auth/login", {"email": "image@example.com"})["api_key"]
        session = _call(base, "POST", "/v2/sessions", {"requirements": {"runtime": "python"}}, key)
        sid = session["session_id"]
        assert session["provider"] == "local", session
        ran = _call(base, "POST", f"/v2/sessions/{sid}/run", {"code": "import os; print(6 * 7, os.getuid())"}, key)
        answer, uid = ran["result"]["stdout"].split()
        assert answer == "42" and uid != "0", ran  # a sandbox user, never the container's root
        # The sandbox sees its own /proc (its own PID namespace), not the container's.
        ran = _call(base, "POST", f"/v2/sessions/{sid}/run",
                    {"code": "import os; print(len([p for p in os.listdir('/proc') if p.isdigit()]) < 10)"}, key)
        assert ran["result"]["stdout"].strip() == "True", ran
        _call(base, "DELETE", f"/v2/sessions/{sid}", key=key)
    finally:
        podman("stop", "-t", "20", name, timeout=60)
        podman("rm", "-f", name)


def test_the_services_run_unprivileged_on_a_read_only_root(image, tmp_path):
    # As deploy/k8s runs them: uid 10001 (the image's default), read-only root, /tmp writable.
    ran = podman("run", "--rm", "--read-only", "--tmpfs", "/tmp", image, "sh", "-c",
                 "id -u && python -m gateway.export /tmp/out && ls /tmp/out")
    assert ran.returncode == 0, ran.stderr
    uid, *files = ran.stdout.split()
    assert uid == "10001" and {"envoy.yaml", "cerver.binpb"} <= set(files), ran.stdout


def test_the_node_refuses_to_serve_under_a_masked_proc(image):
    """Everything the node pool is given but an unmasked /proc: the start-up
    check starts a real sandbox, sees bubblewrap fail, and the node exits
    naming the cause instead of serving sandboxes that cannot start."""
    ran = podman("run", "--rm", "--privileged", "--security-opt", "mask=" + ":".join(MASKED), "--user", "0",
                 "--network", "host", "-e", "CERVER_LISTEN_ADDR=127.0.0.1:0", image, "python", "-m", "services.node",
                 timeout=180)
    said = ran.stdout + ran.stderr
    assert ran.returncode != 0, said[-3000:]
    assert "Can't mount proc" in said and "a working sandbox" in said, said[-3000:]
    assert "serving gRPC" not in said
