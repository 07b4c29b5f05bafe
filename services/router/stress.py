"""Stress tests: compare providers under one workload. Providers that can
execute here are measured live (real sandboxes through the compute service,
sample_size times); the rest are simulated from their profiles, and each
result says which it is."""
import hashlib
import logging
import random
import statistics
import time

import grpc

from cerver.v2 import common_pb2, compute_pb2, compute_pb2_grpc, router_pb2
from servicekit import config, peers
from services.router.engine import Catalog, Profile, estimated_cost

log = logging.getLogger("cerver.router.stress")
KINDS = ("cold_start", "stream_response", "package_install", "preview_launch", "long_session")
# What one live sample does after provisioning, per kind.
PREVIEW_PROBE = ("python3 -m http.server 8765 --bind 127.0.0.1 >/dev/null 2>&1 & "
                 "for i in $(seq 100); do python3 -c \"import urllib.request;"
                 "urllib.request.urlopen('http://127.0.0.1:8765/')\" 2>/dev/null && exit 0; sleep 0.05; done; exit 1")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))], 2)


class LiveSampler:
    """Runs real samples on one provider through the compute service."""

    def __init__(self, credentials, provider: str, requirements: common_pb2.Requirements):
        self.stub = peers.stub("compute", compute_pb2_grpc.ComputeServiceStub)
        self.md = credentials
        self.provider = provider
        self.requirements = requirements
        self.provisioned: list[float | None] = []  # each create's time (None: it failed), for the router to learn

    async def _create(self, network: bool = False) -> tuple[str, float]:
        req = common_pb2.Requirements()
        req.CopyFrom(self.requirements)
        req.package_install = network
        req.public_preview = False
        started = time.perf_counter()
        try:
            box = await self.stub.CreateSandbox(compute_pb2.CreateSandboxRequest(provider=self.provider,
                                                                                 requirements=req),
                                                metadata=self.md, timeout=config.CREATE_TIMEOUT_S)
        except grpc.aio.AioRpcError:
            self.provisioned.append(None)
            raise
        self.provisioned.append((time.perf_counter() - started) * 1000)
        return box.sandbox_id, self.provisioned[-1]

    async def _run(self, sandbox_id: str, code: str) -> compute_pb2.RunSandboxResponse:
        return await self.stub.RunSandbox(compute_pb2.RunSandboxRequest(
            sandbox_id=sandbox_id, code=code, runtime="shell", timeout=60), metadata=self.md, timeout=90)

    async def _delete(self, sandbox_id: str) -> None:
        await self.stub.DeleteSandbox(compute_pb2.DeleteSandboxRequest(sandbox_id=sandbox_id),
                                      metadata=self.md, timeout=30)

    async def sample(self, kind: str) -> float:
        """One sample's figure in ms; raises on failure."""
        if kind == "cold_start":
            sandbox_id, provision_ms = await self._create()
            started = time.perf_counter()
            result = await self._run(sandbox_id, "true")
            first_exec_ms = (time.perf_counter() - started) * 1000
            await self._delete(sandbox_id)
            self._ok(result)
            return provision_ms + first_exec_ms
        sandbox_id, _ = await self._create(network=kind == "package_install")
        try:
            started = time.perf_counter()
            if kind == "stream_response":
                call = self.stub.RunSandboxStream(compute_pb2.RunSandboxRequest(
                    sandbox_id=sandbox_id, code="echo ready; sleep 0.05; echo done", runtime="shell", timeout=30),
                    metadata=self.md, timeout=config.CREATE_TIMEOUT_S)
                async for chunk in call:
                    if chunk.type == "stdout":
                        return (time.perf_counter() - started) * 1000
                raise RuntimeError("the stream ended without output")
            if kind == "package_install":
                # No registry is assumed reachable: measure the installer's
                # own start-up inside a sandbox with network.
                self._ok(await self._run(sandbox_id, "python3 -m pip --version || npm --version"))
            elif kind == "preview_launch":
                self._ok(await self._run(sandbox_id, PREVIEW_PROBE))
            else:  # long_session: a run of commands on one sandbox
                for i in range(5):
                    self._ok(await self._run(sandbox_id, f"echo step {i} > step.txt && cat step.txt"))
            return (time.perf_counter() - started) * 1000
        finally:
            await self._delete(sandbox_id)

    @staticmethod
    def _ok(result: compute_pb2.RunSandboxResponse) -> None:
        if result.exit_code != 0:
            raise RuntimeError(f"exit {result.exit_code}: {result.stderr[-200:]}")


def simulate(profile: Profile, kind: str, samples: int, seed: str) -> list[float | None]:
    """Figures drawn around the profile's estimates, deterministic per seed;
    None marks a simulated failure."""
    rng = random.Random(int(hashlib.sha256(f"{seed}:{profile.name}:{kind}".encode()).hexdigest()[:16], 16))
    base = {"cold_start": profile.startup_ms, "stream_response": profile.startup_ms * 0.4,
            "package_install": profile.startup_ms + 4000, "preview_launch": profile.startup_ms + 1500,
            "long_session": profile.startup_ms * 0.6 * 5}[kind]
    return [None if rng.random() > profile.reliability else round(base * rng.lognormvariate(0, 0.25), 2)
            for _ in range(samples)]


def provider_result(profile: Profile, mode: str, figures: list[float | None], minutes: float,
                    note: str, requirements=None) -> router_pb2.ProviderStressResult:
    ok = [f for f in figures if f is not None]
    return router_pb2.ProviderStressResult(
        provider=profile.name, mode=mode, samples=len(figures), failures=len(figures) - len(ok),
        p50_ms=percentile(ok, 0.5), p95_ms=percentile(ok, 0.95),
        mean_ms=round(statistics.fmean(ok), 2) if ok else 0.0,
        estimated_cost_usd=estimated_cost(profile, minutes, requirements), note=note)


def rank(results: list[router_pb2.ProviderStressResult], catalog: Catalog) -> None:
    """Score each result: speed, availability and cost, as measured."""
    ceiling = catalog.tuning["speed_ceiling_ms"] * 4
    for r in results:
        if not r.samples or r.failures == r.samples:
            r.score = 0.0
            continue
        availability = 1 - r.failures / r.samples
        r.score = round(0.5 * max(0.0, 1 - r.p50_ms / ceiling) + 0.35 * availability
                        + 0.15 * max(0.0, 1 - r.estimated_cost_usd / catalog.tuning["cost_ceiling_usd"]), 4)


def report(test: router_pb2.StressTest, catalog: Catalog) -> None:
    names = {p.name: p.display_name for p in catalog.profiles}
    ordered = sorted(test.results, key=lambda r: (-r.score, r.provider))
    if not ordered or ordered[0].score == 0:
        test.summary = "No provider completed the stress test."
        test.report.headline = test.summary
        test.report.guidance = "Every sample failed; check the providers' status and the requirements."
        test.report.next_policy = "Keep the current routing policy until a provider passes."
        return
    best = ordered[0]
    test.winner = best.provider
    label = test.kind.replace("_", " ")
    test.summary = f"{names[best.provider]} is the strongest {label} candidate."
    live = [r.provider for r in ordered if r.mode == "live"]
    simulated = [r.provider for r in ordered if r.mode == "simulated"]
    how = []
    if live:
        how.append(f"measured live on {', '.join(names[p] for p in live)}")
    if simulated:
        how.append(f"simulated from profiles for {', '.join(names[p] for p in simulated)}")
    test.report.headline = test.summary
    test.report.guidance = (
        f"Across {test.sampleSize} runs per provider ({'; '.join(how)}), {names[best.provider]} shows the best mix "
        f"of speed (p50 {best.p50_ms:.0f} ms, p95 {best.p95_ms:.0f} ms), availability "
        f"({best.samples - best.failures}/{best.samples}) and cost.")
    rest = [r.provider for r in ordered[1:] if r.score > 0]
    test.report.next_policy = f"Route {test.workload or 'general'} runs to {best.provider} first" + (
        f", then fall back to {', '.join(rest)}." if rest else ".")


async def run_samples(sampler: LiveSampler, kind: str, n: int, on_sample) -> list[float | None]:
    figures: list[float | None] = []
    for _ in range(n):
        try:
            figures.append(round(await sampler.sample(kind), 2))
        except (grpc.aio.AioRpcError, RuntimeError) as exc:
            log.info("live sample on %s failed: %s", sampler.provider, exc)
            figures.append(None)
        await on_sample()
    return figures
