"""Cloud providers run for real: each through the whole session flow (enable
with credentials → create → run → stream → files → pause/resume → delete)
against a stand-in that follows that vendor's documented API (tests/fakes),
with its errors, rate limits and failures; routing, failover and cost use
what an account enabled."""
import base64
import dataclasses
import json
import logging
import os

import pytest

from tests.conftest import running_stack
from tests.fakes import cloudflare, daytona, e2b, vercel
from tests.fakes import modal as fake_modal

MIB = 1 << 20


@dataclasses.dataclass
class Vendor:
    name: str
    fake: object
    credentials: dict  # what the account enables the provider with
    secret: str  # the credential that must never show anywhere
    secret_name: str  # its name
    live: callable  # how many of the vendor's sandboxes are running
    keeps_workspace: bool = True  # across a pause


async def _vercel(tmp_path, monkeypatch) -> Vendor:
    token = "vercel-token-" + os.urandom(8).hex()
    fake = await vercel.FakeVercel(tmp_path / "vercel", token, team_id="team_cerver").start()
    monkeypatch.setenv("CERVER_VERCEL_API_URL", fake.url)
    return Vendor("vercel", fake, {"vercel_token": token, "team_id": "team_cerver", "project_id": "prj_1"}, token,
                  "vercel_token", lambda: sum(s["status"] == "running" for s in fake.sandboxes.values()))


async def _e2b(tmp_path, monkeypatch) -> Vendor:
    key = "e2b_" + os.urandom(12).hex()
    fake = await e2b.FakeE2B(tmp_path / "e2b", key).start()
    monkeypatch.setenv("CERVER_E2B_API_URL", fake.api_url)
    monkeypatch.setenv("CERVER_E2B_SANDBOX_URL", fake.sandbox_url)
    return Vendor("e2b", fake, {"api_key": key}, key, "api_key", fake.running)


async def _cloudflare(tmp_path, monkeypatch) -> Vendor:
    secret = os.urandom(32).hex()
    fake = await cloudflare.FakeWorker(tmp_path / "cloudflare", secret).start()
    monkeypatch.setenv("CERVER_CLOUD_PRIVATE_URLS", "1")  # the stand-in listens on loopback
    return Vendor("cloudflare", fake, {"worker_url": fake.url, "shared_secret": secret}, secret, "shared_secret",
                  fake.running_count, keeps_workspace=False)


async def _daytona(tmp_path, monkeypatch) -> Vendor:
    key = "dtn_" + os.urandom(16).hex()
    fake = await daytona.FakeDaytona(tmp_path / "daytona", key).begin()
    monkeypatch.setenv("CERVER_DAYTONA_API_URL", fake.url)
    return Vendor("daytona", fake, {"api_key": key}, key, "api_key", fake.running)


async def _modal(tmp_path, monkeypatch) -> Vendor:
    token_id, token_secret = "ak-" + os.urandom(8).hex(), "as-" + os.urandom(12).hex()
    fake = await fake_modal.FakeModal(tmp_path / "modal", token_id, token_secret).start()
    monkeypatch.setenv("CERVER_MODAL_SERVER_URL", fake.url)
    return Vendor("modal", fake, {"token_id": token_id, "token_secret": token_secret}, token_secret,
                  "token_secret", fake.running)


VENDORS = {"cloudflare": _cloudflare, "daytona": _daytona, "e2b": _e2b, "modal": _modal, "vercel": _vercel}


def test_every_cloud_provider_an_account_can_enable_has_an_adapter():
    from servicekit import providers
    from services.compute.__main__ import CLOUD_ADAPTERS
    assert sorted(cls.provider for cls in CLOUD_ADAPTERS) == sorted(providers.CLOUD) == sorted(VENDORS)


@pytest.fixture(params=sorted(VENDORS))
async def vendor(request, tmp_path, monkeypatch):
    made = await VENDORS[request.param](tmp_path, monkeypatch)
    try:
        yield made
    finally:
        await made.fake.close()


async def test_a_session_runs_on_the_cloud_provider_an_account_enabled(vendor, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # every library's debug lines too: none may carry the credential
    caplog.set_level(logging.INFO, logger="aiosqlite")  # (its SQL echo only slows the run)
    async with running_stack(tmp_path / "stack") as stack:
        api = stack.api
        key, other = await api.login(), await api.login()

        # Not enabled: the router says so and what to do, and nothing runs there.
        status, err, text, _ = await api.call("POST", "/v2/sessions", {"compute": {"provider": vendor.name}}, key=key)
        assert status == 409 and "POST /v2/account/providers" in text, text
        status, enabled, text, _ = await api.call("POST", "/v2/account/providers",
                                                  {"provider": vendor.name, "credentials": vendor.credentials},
                                                  key=key)
        assert status == 200, text

        # Enabled: the account has a compute there (online, its own); another account does not.
        _, listed, _, _ = await api.call("GET", "/v2/computes", key=key)
        cloud = [c for c in listed["computes"] if c["provider"] == vendor.name]
        assert len(cloud) == 1 and cloud[0]["status"] == "online" and cloud[0]["kind"] == "cloud", listed
        _, theirs, _, _ = await api.call("GET", "/v2/computes", key=other)
        assert not [c for c in theirs["computes"] if c["provider"] == vendor.name]
        status, advice, text, _ = await api.call("POST", "/v2/recommend", {"provider": vendor.name}, key=key)
        assert status == 200 and advice["decision"]["recommended_provider"] == vendor.name, text
        row = next(p for p in advice["providers"] if p["name"] == vendor.name)
        assert row["executable"] and row["estimated_cost_usd"] > 0 and row["price"]["source"], row

        status, s, text, _ = await api.call("POST", "/v2/sessions", {
            "compute": {"provider": vendor.name}, "requirements": {"persistence_level": "high", "cpus": 2}}, key=key)
        assert status == 200 and s["provider"] == vendor.name and s["status"] == "ready", text
        assert s["compute_id"] == cloud[0]["compute_id"] and vendor.live() == 1
        sid = s["session_id"]

        async def run(code, **extra):
            status, ran, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run", {"code": code, **extra}, key=key)
            assert status == 200, text
            return ran["result"]

        ran = await run("echo hi; echo oops >&2; exit 3")
        assert (ran["stdout"], ran["stderr"], ran["exit_code"]) == ("hi\n", "oops\n", 3)
        if vendor.name == "e2b":  # a sandbox in use has its lifetime extended
            assert [s.get("timeouts_set") for s in vendor.fake.sandboxes.values()] == [1]
        assert (await run("print(6 * 7)", runtime="python"))["stdout"] == "42\n"
        assert (await run("cat; echo \" $GREETING\"", stdin="from stdin", env={"GREETING": "hello"}))["stdout"] == \
            "from stdin hello\n"
        timed = await run("sleep 30", timeout=1)
        assert timed["timed_out"] and timed["reason"] == "timeout", timed

        # A stream carries the output as it comes.
        async with api.http.post(f"{api.base}/v2/sessions/{sid}/run/stream",
                                 json={"code": "for i in 1 2 3; do echo $i; sleep 0.2; done"},
                                 headers={"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}) as r:
            assert r.status == 200
            events = [json.loads(line[5:]) async for line in r.content if line.startswith(b"data:")]
        assert [e["data"] for e in events if e["type"] == "stdout"] == ["1\n", "2\n", "3\n"], events
        assert events[-1]["type"] == "exit" and events[-1]["exit_code"] == 0

        # Files: JSON calls and streamed content, binary and past one piece.
        base = f"/v2/sessions/{sid}/files"
        blob = bytes(range(256)) * 64
        status, info, text, _ = await api.call("POST", base, {"path": "data/blob.bin", "encoding": "base64",
                                                               "content": base64.b64encode(blob).decode()}, key=key)
        assert status == 200 and info["size"] == len(blob), text
        status, got, text, _ = await api.call("GET", f"{base}?path=data/blob.bin&encoding=base64", key=key)
        assert status == 200 and base64.b64decode(got["content"]) == blob, text
        assert (await api.call("GET", f"{base}?path=missing.txt", key=key))[0] == 404
        big = os.urandom(2 * MIB + 77)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/octet-stream"}
        async with api.http.put(f"{api.base}{base}/content?path=data/big.bin", data=big, headers=headers) as r:
            assert r.status == 200 and (await r.json())["size"] == len(big)
        async with api.http.get(f"{api.base}{base}/content?path=data/big.bin", headers=headers) as r:
            assert r.status == 200 and await r.read() == big
        _, listed, _, _ = await api.call("GET", f"{base}/list?path=data", key=key)
        assert [(e["name"], e["type"]) for e in listed["entries"]] == [("big.bin", "file"), ("blob.bin", "file")]
        assert (await api.call("GET", f"{base}/exists?path=data/blob.bin", key=key))[1]["exists"] is True
        assert (await api.call("DELETE", f"{base}?path=data/blob.bin", key=key))[1]["deleted"] is True
        assert (await api.call("GET", f"{base}/exists?path=data/blob.bin", key=key))[1]["exists"] is False
        assert (await api.call("DELETE", f"{base}?path=../x", key=key))[0] == 400

        # Pause keeps the workspace at the vendor (whose API rate limits the
        # first calls: retried as it asks); resume brings it back.
        await run("echo kept > state.txt")
        vendor.fake.rate_limit_next = 2
        status, paused, text, _ = await api.call("POST", f"/v2/sessions/{sid}/pause", {}, key=key)
        assert status == 200 and paused["status"] == "paused" and vendor.live() == 0, text
        assert vendor.fake.rate_limit_next == 0
        status, resumed, text, _ = await api.call("POST", f"/v2/sessions/{sid}/resume", {}, key=key)
        assert status == 200 and resumed["status"] == "ready" and resumed["provider"] == vendor.name, text
        assert vendor.live() == 1
        if vendor.keeps_workspace:
            assert (await run("cat state.txt"))["stdout"] == "kept\n"
        else:  # the provider cannot keep it, and the pause said so
            assert (await run("cat state.txt"))["exit_code"] != 0
            _, full, _, _ = await api.call("GET", f"/v2/sessions/{sid}", key=key)
            assert "keeps no workspace" in [e for e in full["events"] if e["type"] == "paused"][-1]["detail"]

        # Delete stops it there.
        status, _, text, _ = await api.call("DELETE", f"/v2/sessions/{sid}", key=key)
        assert status == 200 and vendor.live() == 0, text

        # The credential never shows: not in any answer, the transcript, or a log line.
        _, exported, text, _ = await api.call("GET", f"/v2/sessions/{sid}?full=true", key=key)
        _, providers, listing, _ = await api.call("GET", "/v2/account/providers", key=key)
        assert vendor.secret not in text and vendor.secret not in listing
        assert vendor.secret not in caplog.text

        # Disabled: the compute goes offline and nothing new is placed there.
        assert (await api.call("DELETE", f"/v2/account/providers/{vendor.name}", key=key))[0] == 200
        _, listed, _, _ = await api.call("GET", "/v2/computes", key=key)
        assert [c["status"] for c in listed["computes"] if c["provider"] == vendor.name] == ["offline"]
        status, _, text, _ = await api.call("POST", "/v2/sessions", {"compute": {"provider": vendor.name}}, key=key)
        assert status == 409, text


async def test_refused_credentials_say_so_without_echoing_them(vendor, tmp_path):
    async with running_stack(tmp_path / "stack") as stack:
        api = stack.api
        key = await api.login()
        wrong = "wrong-" + os.urandom(6).hex()
        credentials = {**vendor.credentials, vendor.secret_name: wrong}
        assert (await api.call("POST", "/v2/account/providers", {"provider": vendor.name, "credentials": credentials},
                               key=key))[0] == 200
        status, err, text, _ = await api.call("POST", "/v2/sessions", {"compute": {"provider": vendor.name}}, key=key)
        assert status == 409 and "credentials" in err["message"], text
        assert wrong not in text


async def test_a_vendor_that_cannot_be_reached_is_unavailable_not_a_server_error(tmp_path, monkeypatch):
    """Nothing listens where any vendor should be (no network, an outage):
    creating there is a 503 that names the vendor, never a 500. One stack
    for all five, each enabled with credentials of its shape."""
    from cli.dev import free_port
    nowhere = f"http://127.0.0.1:{free_port()}"
    for setting in ("CERVER_VERCEL_API_URL", "CERVER_E2B_API_URL", "CERVER_E2B_SANDBOX_URL", "CERVER_DAYTONA_API_URL",
                    "CERVER_MODAL_SERVER_URL"):
        monkeypatch.setenv(setting, nowhere)
    monkeypatch.setenv("CERVER_CLOUD_PRIVATE_URLS", "1")  # the Worker's URL is on loopback too
    monkeypatch.setenv("CERVER_CLOUD_TIMEOUT_S", "3")  # Modal's SDK would retry for a minute
    secret = "unreachable-" + os.urandom(8).hex()
    credentials = {"cloudflare": {"worker_url": nowhere, "shared_secret": secret}, "daytona": {"api_key": secret},
                   "e2b": {"api_key": secret}, "modal": {"token_id": "ak-1", "token_secret": secret},
                   "vercel": {"vercel_token": secret, "team_id": "team_1", "project_id": "prj_1"}}
    assert sorted(credentials) == sorted(VENDORS)
    async with running_stack(tmp_path / "stack") as stack:
        api = stack.api
        key = await api.login()
        for name, given in credentials.items():
            assert (await api.call("POST", "/v2/account/providers", {"provider": name, "credentials": given},
                                   key=key))[0] == 200
            status, err, text, _ = await api.call("POST", "/v2/sessions", {"compute": {"provider": name}}, key=key)
            assert status == 503 and err["code"] == 14 and secret not in text, (name, text)


async def test_a_failed_provision_fails_over_to_the_next_provider(vendor, tmp_path):
    """The router placed it on the vendor (pinned mode, the vendor first);
    the vendor fails to create: the session lands on the next provider of
    fallback_order, its events say so, and the router counts the failure."""
    async with running_stack(tmp_path / "stack") as stack:
        api = stack.api
        key = await api.login()
        await api.call("POST", "/v2/account/providers", {"provider": vendor.name, "credentials": vendor.credentials},
                       key=key)
        vendor.fake.fail_creates = 5
        status, s, text, _ = await api.call("POST", "/v2/sessions", {"policy": {
            "mode": "pinned", "pinned_provider": vendor.name, "allowed_providers": [vendor.name, "local"]}}, key=key)
        assert status == 200 and s["provider"] == "local" and s["status"] == "ready", text
        assert s["routing"]["recommended_provider"] == vendor.name and s["routing"]["fallback_order"] == ["local"]
        _, full, _, _ = await api.call("GET", f"/v2/sessions/{s['session_id']}", key=key)
        failover = [e for e in full["events"] if e["type"] == "failover"]
        assert len(failover) == 1 and vendor.name in failover[0]["detail"] and "local" in failover[0]["detail"], \
            full["events"]
        assert (await api.call("POST", f"/v2/sessions/{s['session_id']}/run", {"code": "echo ok"}, key=key))[0] == 200


async def test_an_accounts_worker_url_cannot_reach_inside_the_deployment(tmp_path):
    """The Cloudflare Worker is the one URL an account chooses, and compute
    calls it: plain http, loopback and private addresses (by name or number)
    are refused before anything is sent, and the answer says why."""
    secret = os.urandom(16).hex()
    fake = await cloudflare.FakeWorker(tmp_path / "cloudflare", secret).start()
    try:
        async with running_stack(tmp_path / "stack") as stack:
            api = stack.api
            port = fake.url.rsplit(":", 1)[1]
            for url, said in ((fake.url, "must be https"), (f"https://127.0.0.1:{port}", "public address"),
                              (f"https://localhost:{port}", "public address"),
                              (f"https://10.1.2.3:{port}", "public address"), ("not a url", "not an http")):
                key = await api.login()
                assert (await api.call("POST", "/v2/account/providers", {"provider": "cloudflare", "credentials": {
                    "worker_url": url, "shared_secret": secret}}, key=key))[0] == 200
                status, err, text, _ = await api.call("POST", "/v2/sessions", {"compute": {"provider": "cloudflare"}},
                                                      key=key)
                assert status in (409, 503) and said in err["message"] and secret not in text, (url, text)
        assert fake.requests == []
    finally:
        await fake.close()


async def test_stress_tests_measure_enabled_providers_live_and_simulate_the_rest(tmp_path, monkeypatch):
    vendor = await _vercel(tmp_path, monkeypatch)
    try:
        async with running_stack(tmp_path / "stack") as stack:
            api = stack.api
            key = await api.login()
            await api.call("POST", "/v2/account/providers", {"provider": "vercel", "credentials": vendor.credentials},
                           key=key)
            body = {"kind": "cold_start", "providers": ["vercel", "e2b"], "sample_size": 3,
                    "requirements": {"runtime": "shell"}}
            status, test, text, _ = await api.call("POST", "/v2/stress-tests", body, key=key)
            assert status == 200 and test["status"] == "completed", text
            results = {r["provider"]: r for r in test["results"]}
            assert results["vercel"]["mode"] == "live" and results["vercel"]["failures"] == 0, results["vercel"]
            assert len([s for s in vendor.fake.sandboxes.values()]) >= 3  # real sandboxes there
            assert results["e2b"]["mode"] == "simulated" and "not enabled on this account" in results["e2b"]["note"]
            # What was measured moved the router's estimate of the provider.
            _, listed, _, _ = await api.call("GET", "/v2/providers", key=key)
            assert next(p for p in listed["providers"] if p["name"] == "vercel")["observed_samples"] >= 3
    finally:
        await vendor.fake.close()


async def test_a_provider_the_deployment_configures_serves_every_account(tmp_path, monkeypatch):
    vendor = await _e2b(tmp_path, monkeypatch)
    monkeypatch.setenv("CERVER_CLOUD_PROVIDERS", json.dumps({"e2b": vendor.credentials}))
    try:
        async with running_stack(tmp_path / "stack") as stack:
            api = stack.api
            for _ in range(2):
                key = await api.login()
                _, listed, _, _ = await api.call("GET", "/v2/computes", key=key)
                shared = [c for c in listed["computes"] if c["provider"] == "e2b"]
                assert [(c["compute_id"], c["kind"], c["status"]) for c in shared] == \
                    [("comp_e2b", "cloud", "online")], listed
                status, s, text, _ = await api.call("POST", "/v2/sessions", {"compute": {"provider": "e2b"}}, key=key)
                assert status == 200 and s["compute_id"] == "comp_e2b", text
                status, ran, text, _ = await api.call("POST", f"/v2/sessions/{s['session_id']}/run",
                                                      {"code": "echo shared"}, key=key)
                assert status == 200 and ran["result"]["stdout"] == "shared\n", text
    finally:
        await vendor.fake.close()


@pytest.mark.parametrize("value,said", [
    ('{"relay": {"token": "s3cret-value"}}', "relay: not a cloud provider"),
    ('{"e2b": {"key": "s3cret-value"}}', "missing: api_key"),
    ("{not json", "must be JSON")])
def test_a_bad_deployment_provider_setting_stops_compute_naming_it(tmp_path, value, said):
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-m", "services.compute"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "CERVER_CLOUD_PROVIDERS": value, "CERVER_DATA_DIR": str(tmp_path),
                               "CERVER_NODE_WAIT_S": "0", "CERVER_COMPUTE_ADDR": "127.0.0.1:0"})
    assert done.returncode == 2 and "CERVER_CLOUD_PROVIDERS" in done.stderr and said in done.stderr, done.stderr
    assert "s3cret-value" not in done.stderr + done.stdout
