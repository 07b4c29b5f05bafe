"""Package installs (pip, npm) into a sandbox's workspace, from package
indexes served here (CI has no internet), following PEP 503 (pip's simple
index) and the npm registry's documented package documents. A sandbox
without network gets it for the install only."""


async def test_pip_and_npm_install_with_network_for_the_install_only(api, indexes):
    base, served = indexes
    key = await api.login()
    status, sandbox, text, _ = await api.call("POST", "/v2/sandbox", {"requirements": {"runtime": "python"}}, key=key)
    assert status == 200 and not sandbox["network"], text
    sid = sandbox["sandbox_id"]

    async def run(code: str) -> dict:
        return (await api.call("POST", f"/v2/sandbox/{sid}/run", {"code": code, "runtime": "shell"}, key=key))[1]

    reach = f"python3 -c \"import urllib.request; urllib.request.urlopen('{base}/simple/cerver-probe/', timeout=3)\""
    assert (await run(reach))["exit_code"] != 0  # no network of its own
    # A cell first: its context started before the install still imports what it brings.
    assert (await api.call("POST", f"/v2/sandbox/{sid}/cells", {"code": "1"}, key=key))[0] == 200

    status, done, text, _ = await api.call("POST", f"/v2/sandbox/{sid}/packages",
                                           {"manager": "pip", "packages": ["cerver-probe"]}, key=key)
    assert status == 200 and done["success"] and done["exit_code"] == 0, text
    assert "/simple/cerver-probe/" in served
    assert (await run("python3 -c 'import cerver_probe; print(cerver_probe.VALUE)'"))["stdout"] == "42\n"
    cell = (await api.call("POST", f"/v2/sandbox/{sid}/cells", {"code": "import cerver_probe; cerver_probe.VALUE"},
                           key=key))[1]
    assert cell["text"] == "42", cell
    assert (await run(reach))["exit_code"] != 0  # and the network went with the install

    status, done, text, _ = await api.call("POST", f"/v2/sandbox/{sid}/packages",
                                           {"manager": "npm", "packages": ["cerver-probe"]}, key=key)
    assert status == 200 and done["success"], text
    assert (await run("node -e 'console.log(require(\"cerver-probe\"))'"))["stdout"] == "42\n"

    # A package the index does not have: a failed install, said so, not an error of ours.
    status, done, text, _ = await api.call("POST", f"/sandbox/{sid}/install", {"package": "no-such-package"},
                                           key=key)
    assert status == 200 and not done["success"] and done["exit_code"] != 0, text
    # Names are held to the pattern: no option, no quote.
    for bad in ("--index-url=http://evil", "x'; rm -rf /", ""):
        status, _, text, _ = await api.call("POST", f"/v2/sandbox/{sid}/packages",
                                            {"manager": "pip", "packages": [bad]}, key=key)
        assert status == 400, (bad, text)
    await api.call("DELETE", f"/v2/sandbox/{sid}", key=key)
