"""The `cerver` command against a live stack, as a user runs it: the
installed script in a subprocess, its key saved by the device flow in a
config folder of its own."""
import asyncio
import json
import os
import pathlib
import re
import stat
import sys

import pytest

CERVER = pathlib.Path(sys.executable).parent / "cerver"


@pytest.fixture
def home(tmp_path, stack):
    """The environment of a user of this stack with nothing saved yet."""
    config = tmp_path / "config"
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("CERVER_", "XDG_"))},
            "XDG_CONFIG_HOME": str(config), "CERVER_API_URL": stack.api.base, "NO_COLOR": "1",
            "COLUMNS": "200"}


async def cerver(env: dict, *args: str, timeout: float = 120) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(str(CERVER), *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    return process.returncode, out.decode(), err.decode()


async def login(api, env: dict, approver: str) -> None:
    """`cerver login`: the code it prints is approved with another key of the account."""
    process = await asyncio.create_subprocess_exec(str(CERVER), "login", "--no-browser", env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    said = b""
    while not (found := re.search(rb"approve the code (\S+)", said)):
        said += await asyncio.wait_for(process.stderr.read(200), 30)
    code = found.group(1).decode()
    status, _, text, _ = await api.call("POST", "/v2/auth/approve", {"user_code": code}, key=approver)
    assert status == 200, text
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, (out, err)
    assert "Logged in to" in out.decode()


async def refused(api, key: str) -> bool:
    """The key is refused, once the auth cache (5 s at most) lets it go."""
    for _ in range(70):
        if (await api.call("GET", "/v2/auth/account", key=key))[0] == 401:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_login_run_and_read_sessions_from_the_command_line(stack, home):
    api = stack.api
    owner = await api.login()
    _, account, _, _ = await api.call("GET", "/v2/auth/account", key=owner)

    # Not logged in: the error says what to do.
    code, out, err = await cerver(home, "sessions")
    assert code == 1 and "cerver login" in err, err

    await login(api, home, owner)
    saved = pathlib.Path(home["XDG_CONFIG_HOME"]) / "cerver" / "config.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600 and stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    key = json.loads(saved.read_text())["api_key"]
    _, mine, _, _ = await api.call("GET", "/v2/auth/account", key=key)
    assert mine["account_id"] == account["account_id"]  # the approver's account, a key of its own

    # run: output as it comes, on the right stream; the exit code passed through.
    code, out, err = await cerver(home, "run", "--", "echo out; echo err >&2; exit 7")
    assert (code, out) == (7, "out\n") and "err\n" in err, (code, out, err)
    code, out, _ = await cerver(home, "run", "--runtime", "python", "--", "print(6 * 7)")
    assert (code, out) == (0, "42\n")
    code, out, err = await cerver(home, "run", "--keep", "--json", "--", "echo", "two words")
    ran = json.loads(out)
    assert code == 0 and ran["result"]["stdout"] == "two words\n", (out, err)
    kept = ran["session_id"]
    code, out, _ = await cerver(home, "run", "--session", kept, "--", "echo again")
    assert (code, out) == (0, "again\n")
    # The sessions it opened without --keep were ended; the kept one was not.
    code, out, _ = await cerver(home, "sessions", "--json")
    listed = {s["session_id"]: s["status"] for s in json.loads(out)["sessions"]}
    assert listed[kept] in ("ready", "idle") and list(listed.values()).count("terminated") == 2, listed
    code, out, _ = await cerver(home, "sessions")
    assert code == 0 and kept in out and "\x1b[" not in out  # no colour off a terminal
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{kept}", key=key)
    code, out, _ = await cerver(home, "sessions", "--compute", s["compute_id"], "--json")
    assert kept in {x["session_id"] for x in json.loads(out)["sessions"]}
    code, out, _ = await cerver(home, "sessions", "--compute", "comp_elsewhere", "--json")
    assert json.loads(out)["sessions"] == []

    # show, peek, export, search read the same transcript agents read.
    code, out, _ = await cerver(home, "show", kept)
    assert code == 0 and "echo again" in out and "again" in out
    code, out, _ = await cerver(home, "peek", kept, "-n", "2", "--json")
    assert [e["seq"] for e in json.loads(out)["entries"]] == [3, 4]
    code, out, _ = await cerver(home, "export", kept)
    assert out.startswith(f"# session {kept} (cerver run)") and "[4]" in out and "again" in out
    code, out, _ = await cerver(home, "search", "again", "--json")
    assert kept in {h["session_id"] for h in json.loads(out)["hits"]}

    # Computes, keys, providers.
    code, out, _ = await cerver(home, "computes", "--json")
    assert any(c["provider"] == "local" and c["status"] == "online" for c in json.loads(out)["computes"])
    code, out, _ = await cerver(home, "keys", "create", "--name", "ci", "--json")
    created = json.loads(out)
    assert (await api.call("GET", "/v2/auth/account", key=created["api_key"]))[0] == 200
    code, out, _ = await cerver(home, "keys")
    assert created["prefix"] in out and created["api_key"] not in out
    code, out, _ = await cerver(home, "keys", "delete", created["prefix"])
    assert code == 0 and await refused(api, created["api_key"])
    code, out, _ = await cerver(home, "providers", "--json")
    names = {p["name"] for p in json.loads(out)["providers"]}
    assert {"local", "e2b", "modal"} <= names
    code, out, err = await cerver(home, "providers", "enable", "e2b", "-c", "apikey=sekrit-value")
    assert code == 1 and "missing: api_key" in err and "sekrit-value" not in out + err, err

    # Errors are the API's own words; another account's session is not there.
    code, _, err = await cerver(home, "show", "no-such-session")
    assert code == 1 and err.startswith("error:") and "no-such-session" in err, err
    other = await api.login()
    _, theirs, _, _ = await api.call("POST", "/v2/sessions", {"session_type": "transcript"}, key=other)
    code, _, err = await cerver(home, "peek", theirs["session_id"])
    assert code == 1 and "not found" in err

    # logout forgets the key here and deletes it there.
    code, out, _ = await cerver(home, "logout")
    assert code == 0 and not saved.exists() and await refused(api, key)


async def test_show_follow_prints_entries_as_they_are_written(stack, home):
    api = stack.api
    key = await api.login()
    env = {**home, "CERVER_API_TOKEN": key}  # a key from the environment works as well
    _, s, _, _ = await api.call("POST", "/v2/sessions", {"session_type": "transcript", "session_name": "live"},
                                key=key)
    sid = s["session_id"]
    process = await asyncio.create_subprocess_exec(str(CERVER), "show", sid, "--follow", env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    line = await asyncio.wait_for(process.stdout.readline(), 30)  # the summary: it is following now
    assert sid.encode() in line
    for i in range(3):
        await api.call("POST", f"/v2/sessions/{sid}/input", {"content": f"written {i}"}, key=key)
        said = b""
        while f"written {i}".encode() not in said:  # shown before the next is written
            said += await asyncio.wait_for(process.stdout.readline(), 30)
    await api.call("DELETE", f"/v2/sessions/{sid}", key=key)
    out, err = await asyncio.wait_for(process.communicate(), 30)  # it ends with the session
    assert process.returncode == 0, err
    assert "terminated" in err.decode()
