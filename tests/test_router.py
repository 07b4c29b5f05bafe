"""The router service over REST: providers, recommend, learning, stress tests."""
import asyncio


async def test_providers_list_the_honest_picture(api):
    key = await api.login()
    status, body, _, _ = await api.call("GET", "/gateway/providers", key=key)
    assert status == 200
    by_name = {p["name"]: p for p in body["providers"]}
    assert set(by_name) == {"local", "relay", "kubernetes", "cloudflare", "vercel", "e2b", "daytona", "modal"}
    assert "not enabled on this account" in by_name["e2b"]["executable_reason"]
    assert by_name["local"]["executable"] and by_name["local"]["status"] == "executable"
    assert not by_name["relay"]["executable"] and "relay" in by_name["relay"]["executable_reason"]
    # No cluster configured here: listed, not executable, and why.
    assert by_name["kubernetes"]["status"] == "offline" and not by_name["kubernetes"]["executable"]
    assert "no kubernetes compute on this deployment" in by_name["kubernetes"]["executable_reason"]
    assert by_name["vercel"]["status"] == "planned" and by_name["vercel"]["price"]["per_session_usd"] > 0
    assert (await api.call("GET", "/v2/providers", key=key))[1] == body


async def test_recommend_envelope_and_bad_input(api):
    key = await api.login()
    body = {"task": "Classify tickets", "workload": "general", "requirements": {"runtime": "node", "timeout_minutes": 5},
            "policy": {"mode": "cheapest"}}
    status, report, text, _ = await api.call("POST", "/gateway/recommend", body, key=key)
    assert status == 200, text
    assert report["request_id"].startswith("req_") and report["task"] == "Classify tickets"
    assert report["decision"]["recommended_provider"] == "local"  # free, for advice too
    assert report["human_summary"]["headline"] and report["human_summary"]["next_action"]
    assert {p["status"] for p in report["providers"]} <= {"viable", "planned", "filtered"}
    for bad in ({"policy": {"mode": "yolo"}}, {"policy": {"mode": "pinned"}}, {"requirements": {"runtime": "cobol"}}):
        assert (await api.call("POST", "/gateway/recommend", bad, key=key))[0] == 400
    # A provider the catalog does not have is no such resource.
    assert (await api.call("POST", "/gateway/recommend", {"policy": {"allowed_providers": ["x"]}}, key=key))[0] == 404
    assert (await api.call("POST", "/gateway/recommend", body))[0] == 401


async def test_estimates_learn_from_real_provisioning(stack):
    import grpc

    from cerver.v2 import router_pb2, router_pb2_grpc

    api = stack.api
    key = await api.login()

    async def profile(name):
        _, body, _, _ = await api.call("GET", "/v2/providers", key=key)
        return next(p for p in body["providers"] if p["name"] == name)

    local_before = await profile("local")
    for _ in range(3):
        status, _, text, _ = await api.call("POST", "/v2/sessions", {"compute": {"provider": "local"}}, key=key)
        assert status == 200, text
    # Outcomes reach the router off the sessions' path: eventually, not late.
    for _ in range(100):
        if (await profile("local"))["observed_samples"] == local_before["observed_samples"] + 3:
            break
        await asyncio.sleep(0.05)
    assert (await profile("local"))["observed_samples"] == local_before["observed_samples"] + 3

    # Outcomes as the sessions service reports them move the estimates.
    relay_before = await profile("relay")
    service = (("x-cerver-service-token", stack.env["CERVER_SERVICE_TOKEN"]),)
    async with grpc.aio.insecure_channel(stack.env["CERVER_ROUTER_ADDR"]) as ch:
        router = router_pb2_grpc.RouterServiceStub(ch)
        for _ in range(10):
            await router.ReportOutcome(router_pb2.ReportOutcomeRequest(provider="relay", success=True,
                                                                       provision_ms=1000), metadata=service)
        for _ in range(5):
            await router.ReportOutcome(router_pb2.ReportOutcomeRequest(provider="relay", success=False),
                                       metadata=service)
    relay_after = await profile("relay")
    assert relay_before["startup_ms"] < relay_after["startup_ms"] < 1000
    assert relay_after["reliability"] < relay_before["reliability"]
    assert relay_after["observed_samples"] == relay_before["observed_samples"] + 15


async def test_live_cold_start_stress_test(api):
    key = await api.login()
    body = {"kind": "cold_start", "workload": "general", "providers": ["local", "vercel"], "sample_size": 4,
            "requirements": {"runtime": "shell"}, "policy": {"mode": "balanced"}}
    status, test, text, _ = await api.call("POST", "/gateway/stress-tests", body, key=key)
    assert status == 200 and test["status"] == "completed", text
    assert test["testId"].startswith("test_") and test["sampleSize"] == 4 and test["kind"] == "cold_start"
    results = {r["provider"]: r for r in test["results"]}
    local, vercel = results["local"], results["vercel"]
    assert local["mode"] == "live" and local["samples"] == 4 and local["failures"] == 0
    assert 0 < local["p50_ms"] <= local["p95_ms"] < 5000  # measured, plausible
    assert vercel["mode"] == "simulated" and "simulated" in vercel["note"]
    assert test["winner"] in results and test["summary"] and test["report"]["next_policy"]
    assert "measured live" in test["report"]["guidance"] and test["completed_samples"] == test["total_samples"] == 8
    status, again, _, _ = await api.call("GET", f"/gateway/stress-tests/{test['testId']}", key=key)
    assert status == 200 and again["results"] == test["results"]
    other = await api.login()
    assert (await api.call("GET", f"/gateway/stress-tests/{test['testId']}", key=other))[0] == 404


async def test_other_live_stress_kinds(api):
    key = await api.login()
    for kind in ("stream_response", "long_session", "preview_launch"):
        status, test, text, _ = await api.call("POST", "/gateway/stress-tests",
                                               {"kind": kind, "providers": ["local"], "sample_size": 2}, key=key)
        assert status == 200 and test["status"] == "completed", text
        local = test["results"][0]
        assert local["mode"] == "live" and local["failures"] == 0 and local["p50_ms"] > 0, (kind, local)
    for bad in ({"kind": "nope"}, {"kind": "cold_start", "sample_size": 500}):
        assert (await api.call("POST", "/gateway/stress-tests", bad, key=key))[0] == 400
    assert (await api.call("POST", "/gateway/stress-tests", {"kind": "cold_start", "providers": ["x"]}, key=key))[0] == 404


async def test_a_long_stress_test_reports_progress(api, monkeypatch):
    monkeypatch.setenv("CERVER_STRESS_WAIT_S", "0.01")  # answer before the samples are done
    key = await api.login()
    status, test, text, _ = await api.call("POST", "/gateway/stress-tests",
                                           {"kind": "long_session", "providers": ["local"], "sample_size": 6}, key=key)
    assert status == 200 and test["status"] == "running" and test["total_samples"] == 6, text
    seen = set()
    for _ in range(300):
        _, test, _, _ = await api.call("GET", f"/gateway/stress-tests/{test['testId']}", key=key)
        seen.add(test["completed_samples"])
        if test["status"] == "completed":
            break
        await asyncio.sleep(0.05)
    assert test["status"] == "completed" and test["completed_samples"] == 6 and test["winner"] == "local"
    assert len(seen) > 2  # progress was visible on the way


async def test_recommend_takes_spec_002s_whole_request_shape(api):
    """spec/002's example request, verbatim in shape, metadata included."""
    key = await api.login()
    body = {"task": "Run a quick preview of this Next.js app", "workload": "preview",
            "repo": {"name": "web", "framework": "nextjs", "languages": ["typescript"]},
            "requirements": {"runtime": "node", "public_preview": True, "timeout_minutes": 30},
            "policy": {"mode": "balanced"}, "metadata": {"importance": "high"}}
    status, report, text, _ = await api.call("POST", "/gateway/recommend", body, key=key)
    assert status == 200 and report["decision"]["recommended_provider"], text
