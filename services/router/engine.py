"""The routing engine (spec/002 "How Cerver decides"): hard filters, scoring
per mode, confidence, canary and fallback. Pure: the same request and
catalog always give the same decision."""
import dataclasses
import pathlib
import tomllib

from cerver.v2 import common_pb2

CATALOG_PATH = pathlib.Path(__file__).resolve().parent / "catalog.toml"
MODES = ("balanced", "fastest", "cheapest", "resilient", "pinned")
PERSISTENCE_RANK = {"low": 0, "medium": 1, "high": 2}
FACTORS = ("fit", "speed", "cost", "reliability", "persistence", "readiness")


@dataclasses.dataclass
class Profile:
    name: str
    display_name: str
    live: str
    runtimes: list[str]
    browser: bool
    desktop: bool
    public_preview: bool
    package_install: bool
    max_timeout_minutes: int
    persistence: str
    startup_ms: float
    reliability: float
    price: dict  # published rates: cpu_second_usd, memory_gib_second_usd, per_session_usd, source
    shape: dict  # the default sandbox: cpus, memory_gib
    strengths: list[str]
    executable: bool = False
    executable_reason: str = ""
    observed_samples: int = 0


@dataclasses.dataclass
class Catalog:
    profiles: list[Profile]
    modes: dict[str, dict[str, float]]
    tuning: dict


def load_catalog(path: pathlib.Path = CATALOG_PATH) -> Catalog:
    data = tomllib.loads(path.read_text())
    profiles = [Profile(**p) for p in data["providers"]]
    for mode, weights in data["modes"].items():
        if set(weights) != set(FACTORS):
            raise ValueError(f"catalog: mode {mode} must weigh exactly {FACTORS}")
    return Catalog(profiles, data["modes"], data["tuning"])


@dataclasses.dataclass
class Assessment:
    profile: Profile
    status: str = "viable"  # viable | filtered
    reason: str = ""
    score: float = 0.0
    cost_usd: float = 0.0
    factors: dict = dataclasses.field(default_factory=dict)


def per_second(profile: Profile, req: common_pb2.Requirements | None = None) -> float:
    """What a second of this request's sandbox costs there: the cpus and
    memory it asks for (else the provider's default shape) at its rates."""
    cpus = req.cpus if req is not None and req.HasField("cpus") else profile.shape["cpus"]
    gib = req.memory_mb / 1024 if req is not None and req.HasField("memory_mb") else profile.shape["memory_gib"]
    return round(cpus * profile.price["cpu_second_usd"] + gib * profile.price["memory_gib_second_usd"], 10)


def price_model(profile: Profile, req: common_pb2.Requirements | None = None) -> common_pb2.PriceModel:
    return common_pb2.PriceModel(per_second_usd=per_second(profile, req), **profile.price)


def estimated_cost(profile: Profile, minutes: float, req: common_pb2.Requirements | None = None) -> float:
    return round(profile.price["per_session_usd"] + per_second(profile, req) * minutes * 60, 6)


def hard_filter(p: Profile, req: common_pb2.Requirements, policy: common_pb2.Policy, minutes: float,
                require_executable: bool, only: set[str] | None) -> str:
    """Why the provider cannot serve the request, or '' if it can."""
    if only is not None and p.name not in only:
        return "not the provider this request asked for"
    if policy.allowed_providers and p.name not in policy.allowed_providers:
        return "blocked by allowed_providers"
    if req.runtime and req.runtime not in p.runtimes:
        return f"runtime {req.runtime} is not supported"
    for need, has, what in ((req.browser, p.browser, "a browser"), (req.desktop, p.desktop, "a desktop"),
                            (req.public_preview, p.public_preview, "public preview"),
                            (req.package_install, p.package_install, "package install")):
        if need and not has:
            return f"does not offer {what}"
    if minutes > p.max_timeout_minutes:
        return f"timeout {minutes:g} min exceeds its maximum of {p.max_timeout_minutes} min"
    cost = estimated_cost(p, minutes, req)
    if policy.HasField("max_cost_usd") and cost > policy.max_cost_usd:
        return f"estimated cost ${cost:.4f} exceeds max_cost_usd ${policy.max_cost_usd:g}"
    if policy.HasField("max_startup_ms") and p.startup_ms > policy.max_startup_ms:
        return f"startup estimate {p.startup_ms:.0f} ms exceeds max_startup_ms {policy.max_startup_ms}"
    # Last: one that could serve the request but cannot run here says just that.
    if require_executable and not p.executable:
        return f"{NOT_EXECUTABLE}: {p.executable_reason}"
    return ""


def score(p: Profile, req, workload: str, minutes: float, weights: dict, tuning: dict) -> tuple[float, dict]:
    # Hard filters already removed what lacks a required capability; fit
    # rewards the workload a provider is best at and its primary runtime.
    fit = 0.6 + (0.25 if workload and workload in p.strengths else 0.0) \
        + (0.15 if req.runtime and p.runtimes[0] == req.runtime else 0.0)
    factors = {
        "fit": round(fit, 4),
        "speed": round(max(0.0, 1 - p.startup_ms / tuning["speed_ceiling_ms"]), 4),
        "cost": round(max(0.0, 1 - estimated_cost(p, minutes, req) / tuning["cost_ceiling_usd"]), 4),
        "reliability": round(p.reliability, 4),
        "persistence": round(_persistence_fit(p.persistence, req.persistence_level), 4),
        "readiness": 1.0 if p.executable else 0.3,
    }
    return round(sum(weights[f] * factors[f] for f in FACTORS), 4), factors


def _persistence_fit(offered: str, wanted: str) -> float:
    if not wanted:
        return PERSISTENCE_RANK[offered] / 2
    return 1.0 if PERSISTENCE_RANK[offered] >= PERSISTENCE_RANK[wanted] else 0.3


NOT_EXECUTABLE = "not executable in Cerver right now"


def _next_action(assessed: list) -> str:
    """What would give this request somewhere to run: only what would work
    on this deployment (a provider modelled for advice cannot be enabled)."""
    steps = ["connect a machine as private compute (`cerver relay --url <gateway>`)"]
    # Those that met the requirements but could not run.
    idle = [a.profile for a in assessed if a.reason.startswith(NOT_EXECUTABLE)]
    waiting = [p.display_name for p in idle if p.live == "compute" and p.name != "relay"]
    if waiting:
        steps.append(f"bring {', '.join(waiting)} online")
    enable = [p.display_name for p in idle if p.live == "account"]
    if enable:
        steps.append(f"enable {', '.join(enable)} with your credentials (POST /v2/account/providers)")
    steps.append("relax the requirements or policy")
    modelled = [p.display_name for p in idle if p.live == "adapter"]
    tail = f" ({', '.join(modelled)}: modelled for advice only, with no adapter in this deployment.)" \
        if modelled else ""
    return "To run it: " + ", or ".join(steps) + ", then retry." + tail


def _picture(profiles: list[Profile]) -> str:
    """Which providers can run for this account now, which it could enable,
    and which are modelled for advice only."""
    groups = (("Live for this account", [p.name for p in profiles if p.executable]),
              ("enable with credentials to use", [p.name for p in profiles if not p.executable and p.live == "account"]),
              ("modelled for advice only", [p.name for p in profiles if p.live == "adapter"]))
    return "; ".join(f"{label}: {', '.join(names)}" for label, names in groups if names)


def confidence(top: float, gap: float, tuning: dict) -> str:
    if top >= tuning["high_score"] and gap >= tuning["high_gap"]:
        return "high"
    if top >= tuning["medium_score"] and gap >= tuning["medium_gap"]:
        return "medium"
    return "low"


def _factor_reason(p: Profile, factors: dict, weights: dict) -> str:
    best = max(FACTORS, key=lambda f: (weights[f] * factors[f], f))
    return {
        "fit": f"fits this workload best ({', '.join(p.strengths[:2])})",
        "speed": f"starts fastest (~{p.startup_ms:.0f} ms)",
        "cost": "is the cheapest option for this run",
        "reliability": f"is the most reliable ({p.reliability * 100:.1f}% success)",
        "persistence": f"keeps files longest ({p.persistence} persistence)",
        "readiness": "is ready to execute right now",
    }[best]


def recommend(catalog: Catalog, request_id: str, task: str, workload: str, req: common_pb2.Requirements,
              policy: common_pb2.Policy, require_executable: bool, only: set[str] | None = None
              ) -> common_pb2.RecommendationReport:
    tuning = catalog.tuning
    mode = policy.mode or "balanced"
    weights = catalog.modes[mode]
    minutes = float(req.timeout_minutes) if req.HasField("timeout_minutes") else float(tuning["default_timeout_minutes"])

    assessed = []
    for p in catalog.profiles:
        a = Assessment(p, cost_usd=estimated_cost(p, minutes, req))
        a.reason = hard_filter(p, req, policy, minutes, require_executable, only)
        if a.reason:
            a.status = "filtered"
        else:
            a.score, a.factors = score(p, req, workload, minutes, weights, tuning)
            if mode == "pinned" and p.name == policy.pinned_provider:
                a.score = round(a.score + tuning["pinned_boost"], 4)
        assessed.append(a)

    viable = sorted((a for a in assessed if a.status == "viable"), key=lambda a: (-a.score, a.profile.name))
    executable = [a for a in viable if a.profile.executable]
    pool = executable if require_executable else viable
    report = common_pb2.RecommendationReport(request_id=request_id, task=task, workload=workload)
    for a in sorted(assessed, key=lambda a: (a.status != "viable", -a.score, a.profile.name)):
        p = a.profile
        report.providers.add(
            name=p.name, display_name=p.display_name,
            status=a.status if a.status == "filtered" or p.executable else "planned",
            score=a.score, estimated_cost_usd=a.cost_usd, predicted_startup_ms=round(p.startup_ms),
            executable=p.executable, reliability=p.reliability,
            price=price_model(p, req),
            reason=a.reason or (_factor_reason(p, a.factors, weights).capitalize()
                                if p.executable else f"Modeled only: {p.executable_reason}"))
    if not pool:
        why = "; ".join(f"{a.profile.name}: {a.reason}" for a in assessed if a.status == "filtered")
        report.decision.confidence = "low"
        report.decision.primary_reason = "No provider satisfies the hard requirements" + (
            " and can execute now" if require_executable else "")
        report.human_summary.headline = "No executable compute qualifies for this request." if require_executable \
            else "No provider qualifies for this request."
        report.human_summary.next_action = _next_action(assessed)
        report.decision.secondary_reasons.extend([why][:1] if why else [])
        return report

    winner = pool[0]
    runner_up = pool[1] if len(pool) > 1 else None
    gap = winner.score - (runner_up.score if runner_up else 0.0)
    d = report.decision
    d.recommended_provider = winner.profile.name
    # Advice about a provider that cannot run here is never more than a guess.
    d.confidence = confidence(winner.score, gap, tuning) if winner.profile.executable else "low"
    d.fallback_order.extend(a.profile.name for a in viable if a is not winner)
    exec_close = len(executable) > 1 and executable[0].score - executable[1].score < tuning["canary_gap"]
    d.canary_run = bool(exec_close or workload == "long_running" or (mode == "resilient" and len(executable) >= 2))
    p = winner.profile
    d.primary_reason = f"{p.display_name} {_factor_reason(p, winner.factors, weights)} for " \
                       f"{workload or 'general'} work under {mode} routing."
    secondary = [f"Startup ~{p.startup_ms:.0f} ms" + (
        f", within the {policy.max_startup_ms} ms target" if policy.HasField("max_startup_ms") else "")]
    if req.public_preview:
        secondary.append("Public preview supported")
    if req.package_install:
        secondary.append("Package install supported")
    secondary.append(f"Estimated cost ${winner.cost_usd:.4f} for {minutes:g} min")
    secondary.append("Available for live routing through Cerver today" if p.executable
                     else f"Advice only: {p.executable_reason}")
    if runner_up:
        secondary.append(f"Scores {gap:.3f} above {runner_up.profile.display_name}")
    secondary.append(_picture(catalog.profiles))
    d.secondary_reasons.extend(secondary)
    report.human_summary.headline = f"Route this task through {p.display_name}." if p.executable else \
        f"{p.display_name} fits this task best, but cannot run through Cerver here: {p.executable_reason}."
    fallback = viable[1].profile.display_name if len(viable) > 1 and viable[0] is winner else (
        viable[0].profile.display_name if viable[0] is not winner else "")
    report.human_summary.next_action = f"Start a session on {p.display_name}" + (
        f" and keep {fallback} available." if fallback else ".")
    if d.canary_run:
        report.human_summary.next_action += " Run a canary first: the choice is close or the run is long."
    return report
