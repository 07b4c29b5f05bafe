"""The persistent Python context of a sandbox (a Jupyter kernel inside it),
and the published Python SDK (cerver 0.1.0, from PyPI) whose README runs on
it, unchanged."""
import asyncio
import base64
import os
import pathlib
import subprocess
import sys
import zipfile

import pytest



async def _cell(api, key, sandbox_id: str, code: str, **extra) -> dict:
    status, out, text, _ = await api.call("POST", f"/v2/sandbox/{sandbox_id}/cells", {"code": code, **extra}, key=key)
    assert status == 200, text
    return out


async def test_a_context_keeps_state_and_reports_values_errors_and_timeouts(api):
    key = await api.login()
    status, sandbox, text, _ = await api.call("POST", "/v2/sandbox", {}, key=key)
    assert status == 200, text
    sid = sandbox["sandbox_id"]
    try:
        first = await _cell(api, key, sid, "import math\nx = 10\nprint('set')")
        assert first["output"] == "set\n" and first["exit_code"] == 0 and not first.get("context_restarted")
        value = await _cell(api, key, sid, "def twice(v):\n    return 2 * v\ntwice(x) + math.floor(1.5)")
        assert value["text"] == "21" and value["results"][0]["is_main_result"], value
        assert value["results"][0]["data"]["text/plain"] == "21"
        shown = await _cell(api, key, sid, "from IPython.display import display, HTML\ndisplay(HTML('<b>hi</b>'))")
        assert shown["results"][0]["data"]["text/html"] == "<b>hi</b>" and not shown["results"][0].get("is_main_result")

        chart = await _cell(api, key, sid, "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()")
        png = next(r["data"]["image/png"] for r in chart["results"] if "image/png" in r["data"])
        assert base64.b64decode(png).startswith(b"\x89PNG"), chart

        err = await _cell(api, key, sid, "print('before'); undefined_name")
        assert err["exit_code"] == 1 and err["error_name"] == "NameError" and "undefined_name" in err["error_value"]
        assert err["output"] == "before\n" and any("undefined_name" in line for line in err["traceback"])
        assert "\x1b[" not in err["error"]  # plain text, no terminal colours

        # A timeout interrupts the cell, as Jupyter's interrupt does; the context stays.
        slow = await _cell(api, key, sid, "import time\ny = 5\ntime.sleep(30)", timeout=1)
        assert slow["timed_out"] and "timed out" in slow["error"].lower() and slow["exit_code"] == 1, slow
        assert not slow.get("context_restarted")
        assert (await _cell(api, key, sid, "print(x + y)"))["output"] == "15\n"

        # A cell that will not stop at its interrupt loses the context, and says so.
        stuck = await _cell(api, key, sid, "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                           "while True:\n    pass", timeout=1)
        assert stuck["timed_out"] and stuck["context_restarted"], stuck
        gone = await _cell(api, key, sid, "print(x)")
        assert gone["error_name"] == "NameError"

        # A restart on request.
        await _cell(api, key, sid, "z = 1")
        status, _, text, _ = await api.call("POST", f"/v2/sandbox/{sid}/cells/restart", {}, key=key)
        assert status == 200, text
        assert (await _cell(api, key, sid, "print(z)"))["error_name"] == "NameError"

        # The context is the sandbox's: files it writes are the workspace's.
        await _cell(api, key, sid, "open('from_cell.txt', 'w').write('cell')")
        status, ran, _, _ = await api.call("POST", f"/v2/sandbox/{sid}/run", {"code": "cat from_cell.txt"}, key=key)
        assert ran["stdout"] == "cell"

        # Another account's sandbox is not found; bad input is a 400.
        other = await api.login()
        assert (await api.call("POST", f"/v2/sandbox/{sid}/cells", {"code": "1"}, key=other))[0] == 404
        assert (await api.call("POST", f"/v2/sandbox/{sid}/cells", {"code": " "}, key=key))[0] == 400
        assert (await api.call("POST", f"/v2/sandbox/{sid}/cells", {"code": "1", "language": "ruby"}, key=key))[0] \
            == 400
    finally:
        await api.call("DELETE", f"/v2/sandbox/{sid}", key=key)


async def test_a_session_run_chooses_a_persistent_context_or_a_fresh_process(api):
    key = await api.login()
    status, s, text, _ = await api.call("POST", "/v2/sessions", {"requirements": {"runtime": "python"}}, key=key)
    assert status == 200, text
    sid = s["session_id"]

    async def run(code: str, **extra) -> dict:
        status, ran, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run", {"code": code, **extra}, key=key)
        assert status == 200, text
        return ran["result"]

    assert (await run("total = 40", context="persistent"))["exit_code"] == 0
    kept = await run("total + 2", context="persistent")
    assert kept["cell"]["text"] == "42" and kept["cell"]["results"][0]["data"]["text/plain"] == "42", kept
    assert "cell" not in await run("print(1)")  # a fresh process's result has none
    fresh = await run("print(total)")  # a fresh process knows nothing of the context
    assert fresh["exit_code"] == 1 and "NameError" in fresh["stderr"]
    raised = await run("1 / 0", context="persistent")
    assert raised["cell"]["error_name"] == "ZeroDivisionError" and raised["exit_code"] == 1
    assert "ZeroDivision" in raised["stderr"]
    # Streamed, the output and the exit come as events.
    async with api.http.post(f"{api.base}/v2/sessions/{sid}/run/stream",
                             json={"code": "print(total * 2)", "context": "persistent"},
                             headers={"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}) as r:
        body = await r.text()
    assert r.status == 200 and "80\\n" in body and '"exit"' in body, body
    # The transcript holds each run, with the value it gave.
    _, full, _, _ = await api.call("GET", f"/v2/sessions/{sid}?full=1", key=key)
    results = [e for e in full["transcript"] if e["kind"] == "result"]
    assert results[1]["metadata"]["text"] == "42" and results[4]["metadata"]["error_name"] == "ZeroDivisionError"
    # The context is Python's: another language is a 400.
    status, err, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run",
                                          {"code": "1", "context": "persistent", "runtime": "node"}, key=key)
    assert status == 400 and "python" in err["message"], text
    await api.call("DELETE", f"/v2/sessions/{sid}", key=key)


@pytest.fixture(scope="session")
def published_sdk(tmp_path_factory) -> pathlib.Path:
    """The `cerver` package exactly as PyPI publishes it (not installed into
    this environment: its distribution shares this project's name)."""
    where = tmp_path_factory.mktemp("sdk")
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d",
                    str(where), "cerver==0.1.0"], check=True)
    wheel, = where.glob("cerver-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(where / "site")
    return where / "site"


# The README of cerver 0.1.0, example by example, as a user would paste them.
README_EXAMPLES = {
    "quick start": '''
from cerver import Sandbox

with Sandbox() as sandbox:
    result = sandbox.run("print('Hello from sandbox!')")
    print(result.output)  # Hello from sandbox!
''',
    "basic execution": '''
from cerver import Sandbox

with Sandbox() as sandbox:
    # Run code
    result = sandbox.run("x = 1 + 1; print(x)")
    print(result.output)  # 2
    print(result.exit_code)  # 0
    print(result.duration)  # execution time in ms
''',
    "state persistence": '''
from cerver import Sandbox

with Sandbox() as sandbox:
    sandbox.run("x = 10")
    sandbox.run("y = 20")
    result = sandbox.run("print(x + y)")
    print(result.output)  # 30
''',
    "error handling": '''
from cerver import Sandbox, CerverError, TimeoutError

try:
    with Sandbox() as sandbox:
        result = sandbox.run("print(undefined_var)")
        if result.exit_code != 0:
            print(f"Error: {result.error}")
except TimeoutError:
    print("Code timed out")
except CerverError as e:
    print(f"Error: {e}")
''',
    "custom configuration": '''
import os
from cerver import Sandbox

sandbox = Sandbox(
    api_key=os.environ["CERVER_API_KEY"],  # Or use CERVER_API_KEY env var
    timeout=60  # Default timeout in seconds
)
print(sandbox.run("print(6 * 7)").output)
sandbox.close()
''',
    "timeout": '''
from cerver import Sandbox, TimeoutError

with Sandbox(timeout=1) as sandbox:
    try:
        sandbox.run("import time; time.sleep(30)")
    except TimeoutError as e:
        print("timed out:", e)
''',
    "install": '''
from cerver import Sandbox

with Sandbox() as sandbox:
    print("installed:", sandbox.install("cerver-probe"))
    print(sandbox.run("import cerver_probe; print(cerver_probe.VALUE)").output)
''',
    "bad key": '''
from cerver import Sandbox, AuthenticationError

try:
    Sandbox(api_key="ck_not_a_key").create()
except AuthenticationError as e:
    print("refused:", e)
''',
}
EXPECTED = {
    "quick start": "Hello from sandbox!\n\n",
    "state persistence": "30\n\n",
    "custom configuration": "42\n\n",
}


async def test_the_published_sdks_readme_runs_unchanged(api, published_sdk, indexes):
    key = await api.login()
    env = {**os.environ, "PYTHONPATH": str(published_sdk), "CERVER_API_URL": api.base, "CERVER_API_KEY": key}

    def run(name: str) -> str:
        done = subprocess.run([sys.executable, "-c", README_EXAMPLES[name]], env=env, capture_output=True, text=True,
                              timeout=120, cwd=published_sdk.parent)
        assert done.returncode == 0, (name, done.stderr)
        return done.stdout

    # One at a time: each waits in a worker thread, and the stack in this
    # process needs the default pool's threads too.
    outputs = {name: await asyncio.to_thread(run, name) for name in README_EXAMPLES}
    for name, expected in EXPECTED.items():
        assert outputs[name] == expected, (name, outputs[name])
    basic = outputs["basic execution"].splitlines()
    assert basic[:3] == ["2", "", "0"] and int(basic[3]) >= 0  # the duration, in ms
    assert outputs["error handling"].startswith("Error: ") and "NameError" in outputs["error handling"]
    assert outputs["timeout"].startswith("timed out:")
    assert outputs["install"] == "installed: True\n42\n\n"  # from the local index, with network for the install only
    assert outputs["bad key"].startswith("refused: Invalid API key")
