"""Router use cases: the provider list, recommendations and stress tests."""
import asyncio
import secrets

from google.protobuf import json_format

from cerver.v2 import common_pb2, compute_pb2, compute_pb2_grpc, router_pb2
from servicekit import auth, config, errors, limits, peers
from servicekit.clock import now, to_timestamp
from services.router import engine, stress
from services.router.catalog import LiveCatalog
from services.router.store import RouterStore

MAX_SAMPLES = 50


class Router:
    def __init__(self, store: RouterStore, catalog: LiveCatalog):
        self.store = store
        self.catalog = catalog
        self._tests: set[asyncio.Task] = set()

    def _names(self) -> set[str]:
        return {p.name for p in self.catalog.base.profiles}

    async def providers(self) -> list[engine.Profile]:
        return (await self.catalog.snapshot(peers.credentials())).profiles

    async def recommend(self, req: router_pb2.RecommendRequest) -> common_pb2.RecommendationReport:
        limits.check(req.requirements)
        unknown = [p for p in [*req.policy.allowed_providers, req.provider] if p and p not in self._names()]
        if unknown:  # a provider this catalog does not have: no such resource
            raise errors.not_found("provider", unknown[0][:64])
        credentials = peers.credentials()
        only, computes = None, None
        if req.compute_id:
            stub = peers.stub("compute", compute_pb2_grpc.ComputeServiceStub)
            compute = await stub.GetCompute(compute_pb2.GetComputeRequest(compute_id=req.compute_id),
                                            metadata=credentials, timeout=10)
            only, computes = {compute.provider}, [compute]
        elif req.provider:
            only = {req.provider}
        snapshot = await self.catalog.snapshot(credentials, computes)
        return engine.recommend(snapshot, "req_" + secrets.token_hex(8), req.task, req.workload,
                                req.requirements, req.policy, req.require_executable, only)

    async def report_outcome(self, req: router_pb2.ReportOutcomeRequest) -> None:
        if req.provision_ms < 0:
            raise errors.invalid("provision_ms must not be negative", "provision_ms")
        await self.catalog.record(req.provider, req.success, req.provision_ms)

    # -- stress tests --------------------------------------------------------
    async def create_stress_test(self, req: router_pb2.CreateStressTestRequest) -> router_pb2.StressTest:
        if req.kind not in stress.KINDS:
            raise errors.invalid(f"kind must be one of {', '.join(stress.KINDS)}", "kind")
        limits.check(req.requirements)
        names = list(dict.fromkeys(req.providers)) or [p.name for p in self.catalog.base.profiles]
        unknown = [n for n in names if n not in self._names()]
        if unknown:
            raise errors.not_found("provider", unknown[0][:64])
        samples = req.sample_size or 5
        if not 1 <= samples <= MAX_SAMPLES:
            raise errors.invalid(f"sample_size must be 1..{MAX_SAMPLES}", "sample_size")
        credentials = peers.credentials()
        snapshot = await self.catalog.snapshot(credentials)
        profiles = [p for p in snapshot.profiles if p.name in names]
        test = router_pb2.StressTest(testId="test_" + secrets.token_hex(8), kind=req.kind, workload=req.workload,
                                     sampleSize=samples, status="running", created_at=to_timestamp(now()),
                                     total_samples=samples * len(profiles))
        account_id = auth.account_id()
        await self._save(account_id, test)
        task = asyncio.create_task(self._run_test(account_id, credentials, test, profiles, snapshot, req))
        self._tests.add(task)
        task.add_done_callback(self._tests.discard)
        done, _ = await asyncio.wait({task}, timeout=config.settings().stress_wait_s)
        return task.result() if done else await self.get_stress_test(test.testId)

    async def _run_test(self, account_id, credentials, test, profiles, snapshot, req) -> router_pb2.StressTest:
        minutes = float(req.requirements.timeout_minutes) if req.requirements.HasField("timeout_minutes") else \
            float(snapshot.tuning["default_timeout_minutes"])
        lock = asyncio.Lock()

        async def progressed() -> None:
            async with lock:
                test.completed_samples += 1
                await self._save(account_id, test)

        try:
            live = [p for p in profiles if p.executable]
            samplers = [stress.LiveSampler(credentials, p.name, req.requirements) for p in live]
            live_figures = await asyncio.gather(*(
                stress.run_samples(sampler, req.kind, test.sampleSize, progressed) for sampler in samplers))
            for sampler in samplers:  # real provisioning, learned as sessions' is
                for ms in sampler.provisioned:
                    await self.catalog.record(sampler.provider, ms is not None, ms or 0.0)
            for p, figures in zip(live, live_figures):
                test.results.append(stress.provider_result(p, "live", figures, minutes,
                                                           "measured on real sandboxes through Cerver",
                                                           req.requirements))
            for p in profiles:
                if not p.executable:
                    figures = stress.simulate(p, req.kind, test.sampleSize, test.testId)
                    test.results.append(stress.provider_result(
                        p, "simulated", figures, minutes, f"simulated from its profile: {p.executable_reason}",
                        req.requirements))
                    test.completed_samples += test.sampleSize
            stress.rank(test.results, snapshot)
            stress.report(test, snapshot)
            test.status = "completed"
        except Exception as exc:  # noqa: BLE001 - the stored test says it failed
            test.status = "failed"
            test.summary = f"The stress test failed: {exc}"
        test.finished_at.CopyFrom(to_timestamp(now()))
        await self._save(account_id, test)
        return test

    async def _save(self, account_id: str, test: router_pb2.StressTest) -> None:
        raw = json_format.MessageToJson(test, preserving_proto_field_name=True, indent=None)
        await self.store.save_stress_test(test.testId, account_id, test.status, raw)

    async def get_stress_test(self, test_id: str) -> router_pb2.StressTest:
        row = await self.store.stress_test(test_id)
        if row is None or row.account_id != auth.account_id():
            raise errors.not_found("stress test", test_id)
        return json_format.Parse(row.result_json, router_pb2.StressTest())

    async def close(self) -> None:
        for task in list(self._tests):
            task.cancel()
        await asyncio.gather(*self._tests, return_exceptions=True)
