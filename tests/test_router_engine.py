"""The routing engine, mode by mode, filter by filter: a table of cases on a
catalog where every provider is executable unless a case says otherwise."""
import copy

import pytest

from cerver.v2 import common_pb2
from services.router import engine

BASE = engine.load_catalog()
VERCEL = next(p for p in BASE.profiles if p.name == "vercel")


def catalog(executable=("local", "relay", "kubernetes", "cloudflare", "vercel", "e2b", "daytona", "modal"), **overrides) -> engine.Catalog:
    profiles = []
    for p in BASE.profiles:
        p = copy.deepcopy(p)
        p.executable = p.name in executable
        p.executable_reason = "" if p.executable else "no live adapter"
        for field, value in overrides.get(p.name, {}).items():
            setattr(p, field, value)
        profiles.append(p)
    return engine.Catalog(profiles, BASE.modes, BASE.tuning)


def decide(cat=None, workload="general", require_executable=True, only=None, **kw):
    req = common_pb2.Requirements(**kw.pop("requirements", {}))
    policy = common_pb2.Policy(**kw.pop("policy", {}))
    assert not kw
    return engine.recommend(cat or catalog(), "req_test", "task", workload, req, policy, require_executable, only)


def status_of(report, name):
    return next(p for p in report.providers if p.name == name)


# (case, request, winner, why)
MODE_CASES = [
    ("fastest picks the quickest start", dict(policy={"mode": "fastest"}), "local", "lowest startup_ms"),
    ("cheapest among paid clouds", dict(policy={"mode": "cheapest", "allowed_providers": ["vercel", "e2b", "daytona"]}),
     "daytona", "at 20 min, default shapes: daytona $0.0222 < e2b $0.0363 < vercel $0.1136"),
    ("resilient favours reliability and persistence",
     dict(policy={"mode": "resilient", "allowed_providers": ["cloudflare", "vercel", "e2b"]}), "e2b",
     "high persistence outweighs cloudflare's slightly higher reliability"),
    ("pinned boosts the pinned provider", dict(policy={"mode": "pinned", "pinned_provider": "daytona"}), "daytona",
     "pinned_boost"),
    ("public previews are served by the deployment's nodes only",
     dict(workload="preview", requirements={"public_preview": True, "runtime": "node"}), "local",
     "the clouds' own preview URLs are not proxied by Cerver"),
    ("browser work filters to browser providers", dict(requirements={"browser": True}), "e2b", "browser support"),
    ("desktop work has one candidate", dict(requirements={"desktop": True}), "e2b", "desktop support"),
]


@pytest.mark.parametrize("case,request_kw,winner,why", MODE_CASES, ids=[c[0] for c in MODE_CASES])
def test_modes_pick_the_expected_winner(case, request_kw, winner, why):
    request_kw = dict(request_kw)
    workload = request_kw.pop("workload", "general")
    report = decide(workload=workload, **request_kw)
    assert report.decision.recommended_provider == winner, (case, why, report.decision)


def test_same_inputs_same_decision():
    a = decide(policy={"mode": "balanced"}, requirements={"runtime": "python"})
    b = decide(policy={"mode": "balanced"}, requirements={"runtime": "python"})
    a.request_id = b.request_id = ""
    assert a == b


@pytest.mark.parametrize("kw,filtered,reason", [
    (dict(policy={"allowed_providers": ["e2b"]}), "vercel", "allowed_providers"),
    (dict(requirements={"runtime": "python"}), None, None),
    (dict(requirements={"public_preview": True}), "relay", "public preview"),
    (dict(requirements={"browser": True}), "vercel", "a browser"),
    (dict(requirements={"desktop": True}), "daytona", "a desktop"),
    (dict(requirements={"timeout_minutes": 120}), "vercel", "exceeds its maximum"),
    (dict(policy={"max_cost_usd": 0.01}), "vercel", "max_cost_usd"),
    (dict(policy={"max_startup_ms": 500}), "vercel", "max_startup_ms"),
])
def test_each_hard_filter_names_its_reason(kw, filtered, reason):
    report = decide(**kw)
    if filtered is None:
        assert all(p.status == "viable" for p in report.providers)
        return
    p = status_of(report, filtered)
    assert p.status == "filtered" and reason in p.reason


def test_executability_filter_and_the_honest_picture():
    cat = catalog(executable=("local",))
    live = decide(cat)
    assert live.decision.recommended_provider == "local"
    assert status_of(live, "vercel").status == "filtered" and "not executable" in status_of(live, "vercel").reason
    advice = decide(cat, require_executable=False, policy={"mode": "pinned", "pinned_provider": "vercel"})
    assert advice.decision.recommended_provider == "vercel" and status_of(advice, "vercel").status == "planned"
    # Advice about a provider that cannot run is never confident, and says it cannot run.
    assert advice.decision.confidence == "low" and "cannot run through Cerver" in advice.human_summary.headline
    none = decide(catalog(executable=()), only={"vercel"})
    assert not none.decision.recommended_provider and none.human_summary.headline.startswith("No executable")
    # The way out names what would work here: Vercel has an adapter, so enabling it would.
    said = none.human_summary.next_action
    assert "cerver relay" in said and "enable Vercel Sandbox with your credentials (POST /v2/account/providers)" \
        in said and "modelled" not in said
    # A provider modelled for advice only is never offered as something to enable.
    modelled = catalog(executable=(), vercel={"live": "adapter"})
    said = decide(modelled, only={"vercel"}).human_summary.next_action
    assert "/v2/account/providers" not in said and "Vercel Sandbox: modelled" in said
    blocked = decide(catalog(executable=()), requirements={"desktop": True})
    assert "Cerver local sandbox" not in blocked.human_summary.next_action  # filtered by need, not by being offline


def test_confidence_bands():
    t = BASE.tuning
    assert engine.confidence(t["high_score"], t["high_gap"], t) == "high"
    assert engine.confidence(t["high_score"], t["high_gap"] - 0.01, t) == "medium"
    assert engine.confidence(t["medium_score"], t["medium_gap"], t) == "medium"
    assert engine.confidence(t["medium_score"] - 0.01, 1.0, t) == "low"
    assert engine.confidence(0.99, t["medium_gap"] - 0.001, t) == "low"
    assert decide(policy={"mode": "pinned", "pinned_provider": "local"}).decision.confidence == "high"
    # Two near-identical providers: low confidence.
    twins = catalog(executable=("vercel", "cloudflare"),
                    cloudflare={"startup_ms": 820, "reliability": 0.993, "persistence": "medium",
                                "price": VERCEL.price, "shape": VERCEL.shape,
                                "strengths": ["preview", "coding"], "runtimes": ["node", "python", "shell"]})
    assert decide(twins, policy={"allowed_providers": ["vercel", "cloudflare"]}).decision.confidence == "low"


def test_canary_rules():
    assert not decide(policy={"mode": "fastest", "allowed_providers": ["local", "vercel"]}).decision.canary_run
    assert decide(policy={"mode": "fastest"}).decision.canary_run  # local and relay start within 0.05
    assert decide(workload="long_running").decision.canary_run
    resilient = decide(policy={"mode": "resilient", "allowed_providers": ["local", "e2b"]})
    assert resilient.decision.canary_run
    one = decide(catalog(executable=("local",)), policy={"mode": "resilient"})
    assert not one.decision.canary_run  # only one executable provider
    twins = catalog(executable=("vercel", "cloudflare"),
                    cloudflare={"startup_ms": 820, "reliability": 0.993, "persistence": "medium",
                                "price": VERCEL.price, "shape": VERCEL.shape,
                                "strengths": ["preview", "coding"], "runtimes": ["node", "python", "shell"]})
    assert decide(twins, policy={"allowed_providers": ["vercel", "cloudflare"]}).decision.canary_run


def test_report_shape_fallback_and_reasons():
    report = decide(workload="coding", requirements={"package_install": True, "runtime": "node"},
                    policy={"max_startup_ms": 2000})
    d = report.decision
    assert d.recommended_provider not in d.fallback_order and len(d.fallback_order) >= 1
    assert d.primary_reason and any("Package install" in r for r in d.secondary_reasons)
    assert report.human_summary.headline.startswith("Route this task through")
    assert len(report.providers) == len(BASE.profiles)
    scores = [p.score for p in report.providers if p.status != "filtered"]
    assert scores == sorted(scores, reverse=True)


def test_weights_are_data_for_every_mode():
    assert set(BASE.modes) == set(engine.MODES)
    for weights in BASE.modes.values():
        assert sum(weights.values()) == pytest.approx(1.0)


def test_cost_follows_the_requested_shape_at_the_published_rates():
    """E2B's published rates (per vCPU-second, per GiB-second): 4 vCPUs and
    8 GiB for 60 minutes, and the default 2 vCPU / 0.5 GiB."""
    e2b = next(p for p in BASE.profiles if p.name == "e2b")
    asked = common_pb2.Requirements(cpus=4, memory_mb=8192, timeout_minutes=60)
    assert engine.estimated_cost(e2b, 60, asked) == round((4 * 0.000014 + 8 * 0.0000045) * 3600, 6)
    assert engine.estimated_cost(e2b, 60) == round((2 * 0.000014 + 0.5 * 0.0000045) * 3600, 6)
    report = decide(requirements={"cpus": 4, "memory_mb": 8192, "timeout_minutes": 60}, only={"e2b"})
    row = status_of(report, "e2b")
    assert row.estimated_cost_usd == engine.estimated_cost(e2b, 60, asked)
    assert row.price.per_second_usd == round(4 * 0.000014 + 8 * 0.0000045, 10) and "e2b.dev" in row.price.source
    # Bigger sandboxes cost more everywhere, so cheapest still ranks by rates.
    big = decide(policy={"mode": "cheapest", "allowed_providers": ["vercel", "e2b", "modal"]},
                 requirements={"cpus": 4, "memory_mb": 8192})
    costs = {p.name: p.estimated_cost_usd for p in big.providers if p.status == "viable"}
    assert big.decision.recommended_provider == min(costs, key=costs.get)


def test_the_decision_says_what_is_live_for_the_account_and_what_is_modelled():
    cat = catalog(executable=("local", "vercel"), modal={"live": "adapter"})
    said = decide(cat).decision.secondary_reasons[-1]
    assert said.startswith("Live for this account: local, vercel")
    assert "enable with credentials to use: " in said and "e2b" in said.split("enable with credentials to use: ")[1]
    assert said.endswith("modelled for advice only: modal")
