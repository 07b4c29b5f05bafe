"""The attacks of the isolation review, played against real sandboxes. Each
is bounded (small pids/memory/disk limits, short timeouts) so that a failure
cannot take this machine down, and each checks that the host is unharmed and
that another sandbox keeps serving."""
import asyncio
import collections
import os
import pathlib
import shutil
import socket
import stat
import subprocess
import sys
import time

import pytest

from services.compute.adapters import local
from services.compute.adapters.local import IsolationUnavailable, LocalProvider
from services.compute.isolation import cgroups
from servicekit.limits import Limits

LIMITS = Limits(pids=64, memory_mb=256, cpus=1.0, disk_mb=64, tmp_mb=32)


class Box:
    def __init__(self, sandbox_id, workspace_id="", network=False):
        self.sandbox_id, self.compute_id, self.workspace_id, self.network = sandbox_id, "", workspace_id, network


async def run(provider, box, code, runtime="shell", timeout=20):
    events = [e async for e in provider.run(box, runtime, code, "", {}, timeout)]
    out = "".join(e.data for e in events if e.type == "stdout")
    err = "".join(e.data for e in events if e.type == "stderr")
    return out, err, events[-1]


@pytest.fixture
async def provider(tmp_path):
    p = LocalProvider(tmp_path / "compute", limits=LIMITS, warm=0)
    await p.start()
    yield p
    await p.close()


@pytest.fixture
async def two(provider):
    """A sandbox to attack from, and a neighbour that must keep serving."""
    attacker, neighbour = Box("sbx_attacker"), Box("sbx_neighbour")
    attacker.workspace_id = await provider.create(attacker)
    neighbour.workspace_id = await provider.create(neighbour)
    return attacker, neighbour


async def neighbour_serves(provider, neighbour):
    out, _, end = await run(provider, neighbour, "echo still here")
    assert out == "still here\n" and end.exit_code == 0


def host_can_fork():
    assert subprocess.run(["true"], timeout=10).returncode == 0


def sandbox_pids(provider, box) -> int:
    base = provider.cgroups.bases["pids"] if provider.cgroups.version == 1 else provider.cgroups.base
    return int((base / box.workspace_id / "pids.current").read_text())


async def test_identity_capabilities_seccomp_and_environment(provider, two, monkeypatch):
    attacker, _ = two
    out, _, _ = await run(provider, attacker, "id -u; grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status")
    lines = out.split("\n")
    assert lines[0] == "1000"
    assert "CapEff:\t0000000000000000" in out and "CapBnd:\t0000000000000000" in out
    assert "NoNewPrivs:\t1" in out and "Seccomp:\t2" in out
    # No nested user namespaces, no mounts, no namespaces of any kind.
    out, err, end = await run(provider, attacker, "unshare -Ur true; echo userns=$?; unshare -m true; echo mnt=$?; "
                                                  "python3 -c 'import os; os.unshare(os.CLONE_NEWNET)' 2>/dev/null;"
                                                  " echo net=$?")
    assert "userns=1" in out and "mnt=1" in out and "net=1" in out, (out, err)
    # On the host the sandbox is a uid of the reserved range, not root.
    uid = provider.workspaces.uid(attacker.workspace_id)
    assert uid in provider.identities.range and uid != os.getuid()
    pid1 = provider.sandboxes[attacker.sandbox_id].child_pid
    status = pathlib.Path(f"/proc/{pid1}/status").read_text()
    assert f"Uid:\t{uid}\t{uid}\t{uid}\t{uid}" in status
    # PID 1 inside carries none of the gateway's environment.
    environ = pathlib.Path(f"/proc/{pid1}/environ").read_bytes()
    assert b"CERVER" not in environ and environ.split(b"\0")[0] == b"PATH=/usr/local/bin:/usr/bin:/bin"


async def test_setuid_plant_gives_no_one_root(provider, two):
    attacker, neighbour = two
    out, err, end = await run(provider, attacker, "cp /usr/bin/python3 py && chmod 4755 py && ls -ln py")
    assert end.exit_code == 0 and out.startswith("-rwsr-xr-x"), err
    mount = provider.workspaces.mountpoint(attacker.workspace_id)
    planted = mount / "py"
    info = planted.stat()
    assert info.st_uid in provider.identities.range and info.st_uid != 0
    options = next(line.split()[3] for line in open("/proc/self/mounts") if line.split()[1] == str(mount))
    assert "nosuid" in options.split(",") and "nodev" in options.split(",")
    # Another host user runs the plant: it cannot reach it, and would not get root if it could.
    # (Through a shell: setpriv itself looks its command up before it drops root.)
    probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sh", "-c",
                            '"$0" -c "import os; print(os.geteuid())"', str(planted)],
                           capture_output=True, text=True, timeout=20)
    assert probe.stdout.strip() != "0" and probe.returncode != 0 and "Permission denied" in probe.stderr, probe
    assert stat.S_IMODE(mount.stat().st_mode) == 0o700
    await neighbour_serves(provider, neighbour)


async def test_fork_bomb_stops_at_the_pids_limit_and_dies_with_the_timeout(provider, two):
    attacker, neighbour = two
    idle = sandbox_pids(provider, attacker)  # bubblewrap's monitor and the agent
    # Every process forks forever and ignores failures (dash would give up).
    forever = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    bomb = asyncio.create_task(run(provider, attacker, forever, runtime="python", timeout=3))
    await asyncio.sleep(1.5)
    assert sandbox_pids(provider, attacker) <= LIMITS.pids
    host_can_fork()
    await neighbour_serves(provider, neighbour)
    _, _, end = await bomb
    assert end.timed_out and end.reason == "timeout"
    for _ in range(100):  # killed with the run: only the agent is left
        if sandbox_pids(provider, attacker) <= idle:
            break
        await asyncio.sleep(0.05)
    assert sandbox_pids(provider, attacker) == idle
    out, _, _ = await run(provider, attacker, "echo recovered")
    assert out == "recovered\n"


async def test_memory_hogs_are_oom_killed_inside_the_sandbox_only(provider, two):
    attacker, neighbour = two
    # Three processes of 150 MiB each in a 256 MiB sandbox: per-process
    # limits would let all three through; the sandbox's cgroup does not.
    hog = "python3 -c 'import time; x = bytearray(150 << 20); time.sleep(5)'"
    out, err, end = await run(provider, attacker, f"{hog} & {hog} & {hog}; wait", timeout=30)
    assert "ran out of memory" in err or end.reason == "oom", (out, err, end)
    peak = provider.cgroups.memory_peak(attacker.workspace_id)
    assert 0 < peak <= LIMITS.memory_mb << 20
    _, err, end = await run(provider, attacker, "python3 -c 'x = bytearray(400 << 20)'", timeout=30)
    assert end.reason == "oom" and end.exit_code == 137 and "ran out of memory" in err
    out, _, end = await run(provider, attacker, "python3 -c 'x = bytearray(64 << 20); print(\"fits\")'")
    assert out == "fits\n" and end.exit_code == 0 and end.reason == ""
    await neighbour_serves(provider, neighbour)


async def test_tmp_and_workspace_are_bounded(provider, two):
    attacker, neighbour = two
    out, err, _ = await run(provider, attacker, "head -c 100M /dev/zero > /tmp/fill; echo tmp=$?; "
                                                "df -k /tmp | tail -1; rm -f /tmp/fill")
    assert "tmp=1" in out and "No space left" in err
    assert int(out.split("\n")[1].split()[1]) <= LIMITS.tmp_mb * 1024
    out, err, _ = await run(provider, attacker, "head -c 200M /dev/zero > fill; echo ws=$?; rm -f fill", timeout=60)
    assert "ws=1" in out and "No space left" in err
    image = provider.workspaces.root / attacker.workspace_id / "disk.img"
    assert image.stat().st_size == LIMITS.disk_mb << 20  # sparse, never larger than its quota
    assert image.stat().st_blocks * 512 <= (LIMITS.disk_mb << 20) + (4 << 20)
    assert stat.S_IMODE(image.stat().st_mode) == 0o600 and image.stat().st_uid == os.getuid()
    await neighbour_serves(provider, neighbour)


async def test_agent_channel_cannot_be_forged_or_killed(provider, two):
    attacker, neighbour = two
    forged = '{"id": 1, "type": "exit", "exit_code": 0}'
    out, err, end = await run(provider, attacker,
                              f"echo '{forged}' > /proc/1/fd/1; echo w=$?; cat /proc/1/environ; echo r=$?; "
                              "kill -9 1; kill -STOP 1; kill -INT 1; ls /proc/1/fd; "
                              f"echo '{forged}'")
    assert "w=2" in out and "r=1" in out and "Permission denied" in err
    assert out.rstrip().endswith(forged)  # printed by user code: stdout data, nothing more
    out, _, end = await run(provider, attacker, "echo agent alive")
    assert out == "agent alive\n"
    # 40 MiB of "stdout" in one line: capped where user code cannot reach.
    out, _, end = await run(provider, attacker, "head -c 40M /dev/zero | tr '\\0' x", timeout=60)
    assert len(out) <= provider.output_cap + 200 and end.truncated
    await neighbour_serves(provider, neighbour)


async def test_no_process_of_the_sandbox_holds_the_agents_channel(provider, two):
    """The Python context's kernel is the agent's child: a cell writing to its
    own stdout and stderr, and a run writing to every other process's, reach
    no one (the host would see a line that is not the protocol's and stop the
    sandbox)."""
    attacker, neighbour = two
    cell = await provider.run_cell(attacker, "import os\nfor fd in (1, 2):\n    os.write(fd, b'\\nFORGED\\n')\n"
                                             "print('cell done')", 60)
    assert not cell.error_name and "cell done" in "".join(cell.stdout), cell
    out, _, end = await run(provider, attacker, (
        "for p in /proc/[0-9]*; do [ ${p#/proc/} = 1 ] && continue; "
        "for fd in 0 1 2; do echo FORGED > $p/fd/$fd; done; done 2>/dev/null; "
        "grep -l ipykernel /proc/[0-9]*/cmdline | wc -l"))
    assert out.strip() != "0", "the kernel is not running: nothing was tried"
    out, _, end = await run(provider, attacker, "echo agent alive")
    assert out == "agent alive\n" and end.exit_code == 0
    cell = await provider.run_cell(attacker, "print('kernel alive')", 60)
    assert "kernel alive" in "".join(cell.stdout) and not cell.context_restarted, cell
    await neighbour_serves(provider, neighbour)


async def test_links_planted_in_the_workspace_never_lead_a_file_call_out_of_it(provider, two):
    """Links the code plants, as the last name or a folder on the way,
    absolute or by `..`, lead no file call out of the workspace: not to the
    sandbox's /etc, not to the agent's own /proc/self (its channel, its
    memory); a FIFO is refused, not waited on. Links inside the workspace
    work."""
    attacker, neighbour = two
    out, _, end = await run(provider, attacker, (
        "mkdir -p real/sub && echo inside > real/sub/f && mkfifo pipe && "
        "ln -s /proc/self/fd/1 out && ln -s /proc/1/fd/0 inp && ln -s /proc/self/mem mem && "
        "ln -s /proc/self/fd fds && ln -s /proc/self proc && ln -s ../../../proc/self/fd up && "
        "ln -s real/sub/../../../proc/self/mem sneaky && ln -s /etc etc && ln -s loop loop && "
        "ln -s /workspace/real/sub/f absolute && ln -s real/sub relative && ln -s /workspace/new made && echo ok"))
    assert out == "ok\n", (out, end)
    forged = b'\n{"id": 1, "type": "exit", "exit_code": 0}\n'
    for path in ("out", "fds/1", "proc/fd/1", "up/1", "mem", "sneaky", "etc/passwd", "loop", "pipe"):
        with pytest.raises(local.SandboxRefused):
            await provider.write_file(attacker, path, forged)
    for path in ("inp", "mem", "sneaky", "proc/environ", "etc/passwd", "loop", "pipe", "fds/0"):
        with pytest.raises(local.SandboxRefused):
            await asyncio.wait_for(provider.read_file(attacker, path), 30)
    for op, path in (("list_files", "fds"), ("list_files", "proc"), ("list_files", "up"), ("list_files", "etc"),
                     ("delete_file", "fds/1"), ("delete_file", "etc/passwd")):
        with pytest.raises(local.SandboxRefused):
            await provider.file_call(attacker, op, path)
    with pytest.raises(local.SandboxRefused):
        await provider.move_file(attacker, "real/sub/f", "fds/9")
    # A link itself can be listed, checked, moved and deleted; what it points
    # to inside the workspace can be read and written through it.
    assert await provider.read_file(attacker, "absolute") == b"inside\n"
    assert await provider.read_file(attacker, "relative/f") == b"inside\n"
    assert await provider.write_file(attacker, "made", b"through a link") == 14
    assert (await provider.file_call(attacker, "file_exists", "out"))["kind"] == "symlink"
    assert {e["name"] for e in (await provider.file_call(attacker, "list_files", "relative"))["entries"]} == {"f"}
    await provider.move_file(attacker, "out", "moved")
    await provider.file_call(attacker, "delete_file", "moved")
    out, _, end = await run(provider, attacker, "cat new; ls out moved 2>&1 | wc -l; echo agent alive")
    assert out == "through a link2\nagent alive\n", out
    await neighbour_serves(provider, neighbour)


async def test_a_link_swapped_in_while_file_calls_walk_never_leads_them_out(provider, two):
    """The code flips a folder of the workspace and a link out of it back and
    forth as fast as it can while reads go through that folder: each read
    finds the workspace's file or is refused, never what lies outside."""
    attacker, neighbour = two
    await run(provider, attacker, "(timeout 20 sh -c 'while :; do rm -rf d; ln -s /etc d; rm -f d; mkdir d; "
                                  "echo inside > d/passwd; done' >/dev/null 2>&1 &)")
    found, refused = collections.Counter(), 0
    for _ in range(400):
        try:
            found[await provider.read_file(attacker, "d/passwd")] += 1
        except local.SandboxRefused:
            refused += 1
    await run(provider, attacker, "pkill -f 'while :'")
    print("read:", dict(found), "refused:", refused)
    assert refused and set(found) <= {b"", b"inside\n"}, found  # empty: caught between creating and writing
    out, _, end = await run(provider, attacker, "echo agent alive")
    assert out == "agent alive\n" and end.exit_code == 0
    await neighbour_serves(provider, neighbour)


async def test_untrusted_workspace_ids_are_refused(provider):
    for bad in ("../..", "../../../../x", "ws_/../..", "ws_0123456789abcdef/../../x", "ws_0123\0", "/etc"):
        with pytest.raises(local.SandboxRefused):
            await provider.create(Box("sbx_bad", workspace_id=bad))
    await provider.delete(Box("sbx_none", workspace_id="../.."), keep_workspace=False)  # nothing happens
    assert provider.root.is_dir() and (provider.root / "workspaces").is_dir()


async def test_nul_in_a_file_path_is_an_error_not_a_crash(provider, two):
    attacker, _ = two
    with pytest.raises(local.SandboxRefused):
        await provider.write_file(attacker, "a\0b", b"x")
    out, _, _ = await run(provider, attacker, "echo fine")
    assert out == "fine\n"


async def test_it_refuses_to_run_unsafe_and_names_what_is_missing(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("CERVER_ALLOW_UNISOLATED", raising=False)
    # A uid range that holds a host account (nobody) is refused.
    monkeypatch.setenv("CERVER_SANDBOX_UIDS", "65534:16")
    with pytest.raises(IsolationUnavailable, match="holds host accounts"):
        await LocalProvider.from_env(tmp_path / "a")
    monkeypatch.delenv("CERVER_SANDBOX_UIDS")
    monkeypatch.setattr(cgroups, "detect", lambda name, mount=None: None)
    with pytest.raises(IsolationUnavailable, match="cgroups.*CERVER_ALLOW_UNISOLATED"):
        await LocalProvider.from_env(tmp_path / "b")
    # The explicit opt-in still works, loudly.
    monkeypatch.setenv("CERVER_ALLOW_UNISOLATED", "1")
    monkeypatch.setenv("CERVER_SANDBOX_WARM", "0")
    provider = await LocalProvider.from_env(tmp_path / "c")
    assert not provider.isolated and "UNISOLATED" in caplog.text
    box = Box("sbx_u")
    try:
        box.workspace_id = await provider.create(box)
        out, _, end = await run(provider, box, "echo hi > f.txt; cat f.txt")
        assert out == "hi\n" and end.exit_code == 0
    finally:
        await provider.close()


async def test_the_probe_starts_a_real_sandbox(tmp_path, monkeypatch):
    monkeypatch.setenv("CERVER_SANDBOX_WARM", "0")
    provider = await LocalProvider.from_env(tmp_path / "p")
    try:
        assert provider.isolated and await provider.probe_sandbox() == []
        assert list((tmp_path / "p" / "workspaces").iterdir()) == []  # the probe cleans up after itself
    finally:
        await provider.close()


async def test_a_session_chooses_its_limits_within_the_deployments_maxima(api):
    key = await api.login()
    body = {"requirements": {"runtime": "shell", "memory_mb": 128, "disk_mb": 32, "tmp_mb": 16, "max_processes": 32}}
    status, s, text, _ = await api.call("POST", "/v2/sessions", body, key=key)
    assert status == 200, text
    sid = s["session_id"]
    status, ran, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run", {"code": "df -k /workspace /tmp | tail -2"},
                                          key=key)
    sizes = [int(line.split()[1]) for line in ran["result"]["stdout"].strip().split("\n")]
    assert sizes[0] <= 32 * 1024 and sizes[1] == 16 * 1024, text
    status, ran, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run",
                                          {"code": "x = bytearray(200 << 20)", "runtime": "python"}, key=key)
    result = ran["result"]
    assert result["reason"] == "oom" and result["exit_code"] == 137 and "out of memory" in result["stderr"], text
    _, session, _, _ = await api.call("GET", f"/v2/sessions/{sid}?tail=1", key=key)
    assert session["transcript"][-1]["metadata"]["reason"] == "oom"
    # The stream says so too.
    _, _, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run/stream",
                                   {"code": "x = bytearray(200 << 20)", "runtime": "python"}, key=key)
    assert '"reason":"oom"' in text.replace(" ", ""), text
    await api.call("DELETE", f"/v2/sessions/{sid}", key=key)
    for field, value in (("memory_mb", 1 << 20), ("memory_mb", 1), ("cpus", 512.0), ("max_processes", 1 << 30),
                         ("disk_mb", 1 << 30), ("tmp_mb", 1 << 20)):
        status, err, text, _ = await api.call("POST", "/v2/sessions", {"requirements": {"runtime": "shell",
                                                                                         field: value}}, key=key)
        assert status == 400 and err["details"][0]["field_violations"][0]["field"] == f"requirements.{field}", text


def test_cgroup_v2_subtree_is_delegated_and_limits_written(tmp_path, monkeypatch):
    """No cgroup v2 controllers exist on these machines (v1 here): the v2
    driver is checked against the files of the kernel's interface."""
    root = tmp_path / "cg"
    own = root / "kubepods" / "pod1"
    own.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (own / "cgroup.controllers").write_text("cpu memory pids\n")
    (own / "cgroup.procs").write_text(f"{os.getpid()}\n")
    (own / "cgroup.subtree_control").write_text("")
    monkeypatch.setattr(cgroups, "_own_paths", lambda: {"": "/kubepods/pod1"})
    driver = cgroups.detect("cerver-x", root)
    assert isinstance(driver, cgroups.CgroupV2) and driver.missing() == []
    monkeypatch.setattr(cgroups, "_rmdir", lambda path: None)
    (own / "cerver-x").mkdir()
    (own / "cerver-x" / "cgroup.subtree_control").write_text("")
    driver.prepare()
    assert (own / "cerver-service" / "cgroup.procs").read_text() == str(os.getpid())
    assert (own / "cgroup.subtree_control").read_text() == "+pids +memory +cpu"
    assert (own / "cerver-x" / "cgroup.subtree_control").read_text() == "+pids +memory +cpu"
    procs = driver.create("ws_0123456789abcdef", LIMITS)
    box = own / "cerver-x" / "ws_0123456789abcdef"
    assert procs == [str(box / "cgroup.procs")]
    assert (box / "pids.max").read_text() == "64" and (box / "memory.max").read_text() == str(256 << 20)
    assert (box / "memory.swap.max").read_text() == "0" and (box / "cpu.max").read_text() == "100000 100000"
    (box / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n")
    assert driver.oom_kills("ws_0123456789abcdef") == 2



async def test_sandboxes_with_network_start_together(provider):
    """bwrap and slirp4netns --configure both bring up a new namespace's
    loopback; started at once, one of them used to fail (a start in ten
    under load). Sixteen networked sandboxes started together all start."""
    boxes = [Box(f"sbx_net{i}", network=True) for i in range(16)]
    await asyncio.gather(*(provider.create(box) for box in boxes))
    out, _, end = await run(provider, boxes[-1], "cat /proc/net/route | wc -l")
    assert end.exit_code == 0 and int(out) >= 2  # a header and a route out


async def test_a_sandbox_with_network_reaches_neither_the_host_nor_its_network(tmp_path, monkeypatch):
    """slirp4netns connects from the host: without the egress filter a
    sandbox with network reached services listening on any of the host's
    addresses (not only loopback), the private network and a cloud's
    metadata service. Those are refused; an address the deployment allows
    (CERVER_SANDBOX_EGRESS_ALLOW, as a package mirror is) is reached."""
    from services.compute.isolation import egress
    from tests.fakes.package_index import _host_address

    monkeypatch.setattr(egress, "WATCH_INTERVAL_S", 0.5)
    provider = LocalProvider(tmp_path / "compute", limits=LIMITS, warm=0)
    await provider.start()
    address = _host_address()  # this machine's own, as the host's services would listen on it
    listeners = []
    for _ in range(2):
        sock = socket.create_server((address, 0))
        sock.settimeout(0)
        listeners.append(sock)
    refused_port, allowed_port = (s.getsockname()[1] for s in listeners)
    probe = ("import socket, sys\n"
             "for target in sys.argv[1:]:\n"
             "    host, port = target.rsplit(':', 1)\n"
             "    try:\n"
             "        socket.create_connection((host, int(port)), timeout=3).close(); print(target, 'reached')\n"
             "    except OSError as e:\n"
             "        print(target, 'refused', e.errno)\n")
    targets = [f"{address}:{refused_port}", "169.254.169.254:80", "10.1.2.3:80", "192.168.1.1:80",
               "172.16.0.1:80", "127.0.0.1:80", f"{address}:{allowed_port}"]
    try:
        monkeypatch.setenv("CERVER_SANDBOX_EGRESS_ALLOW", f"{address}:{allowed_port}")
        box = Box("sbx_egress", network=True)
        box.workspace_id = await provider.create(box)
        # slirp4netns, which parses the sandbox's packets as root, keeps no
        # capability but binding low ports, filters its syscalls, and runs
        # with the sandbox's gid (what the filter matches).
        status = dict(line.split(":\t", 1) for line in
                      pathlib.Path(f"/proc/{provider.sandboxes['sbx_egress'].network.pid}/status").read_text()
                      .splitlines() if ":\t" in line)
        assert int(status["CapEff"], 16) == 1 << 10 and status["Seccomp"] == "2", status
        assert status["Gid"].split()[1] == str(provider.sandboxes["sbx_egress"].uid)
        await provider.write_file(box, "probe.py", probe.encode())
        out, err, end = await run(provider, box, "python3 probe.py " + " ".join(targets), runtime="shell", timeout=60)
        said = dict(line.split(" ", 1) for line in out.splitlines())
        assert said.pop(f"{address}:{allowed_port}") == "reached", (out, err)
        assert all(v.startswith("refused") for v in said.values()), out

        # A firewall reloaded meanwhile drops the filter: the node puts it
        # back within its watch's interval, and before the next sandbox
        # gets network.
        jump = ["OUTPUT", *provider.egress.owner, "-j", provider.egress.chain]
        subprocess.run(["iptables", "-w", "-D", *jump], check=True)
        for _ in range(100):
            await asyncio.sleep(0.1)
            if subprocess.run(["iptables", "-w", "-C", *jump], capture_output=True).returncode == 0:
                break
        out, _, _ = await run(provider, box, f"python3 probe.py {address}:{refused_port}", timeout=60)
        assert out.split(" ", 1)[1].startswith("refused"), out
        subprocess.run(["iptables", "-w", "-D", *jump], check=True)
        again = Box("sbx_egress_again", network=True)
        again.workspace_id = await provider.create(again)
        await provider.write_file(again, "probe.py", probe.encode())
        out, _, _ = await run(provider, again, f"python3 probe.py {address}:{refused_port}", timeout=60)
        assert out.split(" ", 1)[1].startswith("refused"), out
    finally:
        for sock in listeners:
            sock.close()
        await provider.close()


async def test_without_iptables_no_sandbox_gets_network_and_the_caller_is_told_why(provider, monkeypatch):
    from services.compute.isolation import egress

    which = shutil.which
    monkeypatch.setattr(egress.shutil, "which", lambda name: None if name.startswith("iptables") else which(name))
    provider.egress = egress.EgressFilter(provider.identities.range)  # nothing written yet by this one
    with pytest.raises(local.SandboxGone, match="iptables is not installed"):
        await provider.create(Box("sbx_no_filter", network=True))
    box = Box("sbx_no_network")
    box.workspace_id = await provider.create(box)
    with pytest.raises(local.SandboxGone, match="iptables is not installed"):
        async for _ in provider.install(box, "pip", ["anything"], {}, 30):
            pass
    out, _, _ = await run(provider, box, "echo serving")
    assert out == "serving\n"


def test_a_killed_node_leaves_no_network_process_behind(tmp_path):
    """A node killed outright takes its sandboxes (bubblewrap dies with its
    parent) and their slirp4netns with it: none is left holding a sandbox's
    network namespace."""
    script = (
        "import asyncio, pathlib, sys\n"
        "from services.compute.adapters.local import LocalProvider\n"
        "from tests.test_isolation import LIMITS, Box\n"
        "async def main():\n"
        "    provider = LocalProvider(pathlib.Path(sys.argv[1]), limits=LIMITS, warm=0)\n"
        "    await provider.start()\n"
        "    box = Box('sbx_orphan', network=True)\n"
        "    await provider.create(box)\n"
        "    sandbox = provider.sandboxes['sbx_orphan']\n"
        "    print(sandbox.network.pid, sandbox.child_pid, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n")
    root = tmp_path / "compute"
    node = subprocess.Popen([sys.executable, "-c", script, str(root)], stdout=subprocess.PIPE, text=True,
                            cwd=pathlib.Path(__file__).resolve().parent.parent)
    try:
        slirp, agent = (int(pid) for pid in node.stdout.readline().split())
        assert os.path.exists(f"/proc/{slirp}") and os.path.exists(f"/proc/{agent}")
        node.kill()
        node.wait(timeout=10)
        for _ in range(100):
            if not os.path.exists(f"/proc/{slirp}") and not os.path.exists(f"/proc/{agent}"):
                break
            time.sleep(0.05)
        left = [pid for pid in (slirp, agent) if os.path.exists(f"/proc/{pid}")
                and pathlib.Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"]
        assert not left, f"left running: {left}"
    finally:
        node.kill()
        # What the killed node left (mounts, cgroups) goes when a node starts on its root again.
        asyncio.run(_start_and_close(root))


async def _start_and_close(root: pathlib.Path) -> None:
    provider = LocalProvider(root, limits=LIMITS, warm=0)
    await provider.start()
    await provider.close()
