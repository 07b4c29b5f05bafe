"""The live catalog: profiles from catalog.toml, their estimates moved by
observed outcomes, and whether each can execute for this account now."""
import asyncio
import copy

from cerver.v2 import compute_pb2, compute_pb2_grpc
from servicekit import peers
from services.router.engine import Catalog, Profile
from services.router.store import ProviderStatsRow, RouterStore

EWMA_ALPHA = 0.2


class LiveCatalog:
    def __init__(self, store: RouterStore, base: Catalog):
        self.store = store
        self.base = base

    async def record(self, provider: str, success: bool, provision_ms: float) -> None:
        if provider not in {p.name for p in self.base.profiles}:
            return

        def learn(row: ProviderStatsRow) -> None:
            row.samples += 1
            if success:
                row.startup_ewma_ms = provision_ms if row.samples - row.failures == 1 else \
                    (1 - EWMA_ALPHA) * row.startup_ewma_ms + EWMA_ALPHA * provision_ms
            else:
                row.failures += 1
        await self.store.learn(provider, learn)

    async def computes(self, credentials) -> list[compute_pb2.Compute]:
        stub = peers.stub("compute", compute_pb2_grpc.ComputeServiceStub)
        return list((await stub.ListComputes(compute_pb2.ListComputesRequest(), metadata=credentials,
                                             timeout=10)).computes)

    async def snapshot(self, credentials, computes: list[compute_pb2.Compute] | None = None) -> Catalog:
        """Profiles for this account, now: learned estimates, executability."""
        if computes is None:
            learned, computes = await asyncio.gather(self.store.stats(), self.computes(credentials))
        else:
            learned = await self.store.stats()
        online = {c.provider for c in computes if c.status == "online"}
        known = {c.provider for c in computes}
        k = self.base.tuning["prior_weight"]
        profiles = []
        for base in self.base.profiles:
            p: Profile = copy.deepcopy(base)
            stats = learned.get(p.name)
            if stats is not None and stats.samples:
                ok = stats.samples - stats.failures
                if ok:
                    p.startup_ms = round((base.startup_ms * k + stats.startup_ewma_ms * ok) / (k + ok), 1)
                p.reliability = round((base.reliability * k + ok) / (k + stats.samples), 4)
                p.observed_samples = stats.samples
            if p.live == "compute":
                p.executable = p.name in online
                p.executable_reason = "" if p.executable else (
                    f"no {p.name} compute is online" if p.name in known else
                    ("no private machine is connected (run `cerver relay`)" if p.name == "relay"
                     else f"no {p.name} compute on this deployment"))
            elif p.live == "account":  # an enabled provider is an online compute of the account's
                p.executable = p.name in online
                p.executable_reason = "" if p.executable else (
                    f"{p.display_name} is not enabled on this account: POST /v2/account/providers "
                    f"with its credentials")
            else:
                p.executable_reason = "modeled in the catalog; no live adapter in this deployment yet"
            profiles.append(p)
        return Catalog(profiles, self.base.modes, self.base.tuning)
