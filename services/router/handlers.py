"""RouterService RPCs: validate, call the domain, shape the reply."""
from cerver.v2 import router_pb2 as pb
from cerver.v2 import router_pb2_grpc
from services.router import engine
from services.router.domain import Router


class RouterHandlers(router_pb2_grpc.RouterServiceServicer):
    def __init__(self, router: Router):
        self.router = router

    async def ListProviders(self, request, context):
        out = pb.ListProvidersResponse()
        for p in await self.router.providers():
            out.providers.add(
                name=p.name, display_name=p.display_name,
                status="executable" if p.executable else ("offline" if p.live == "compute" else "planned"),
                executable=p.executable, executable_reason=p.executable_reason, runtimes=p.runtimes,
                browser=p.browser, desktop=p.desktop, public_preview=p.public_preview,
                package_install=p.package_install, max_timeout_minutes=p.max_timeout_minutes,
                persistence=p.persistence, startup_ms=round(p.startup_ms), reliability=p.reliability,
                price=engine.price_model(p), strengths=p.strengths, observed_samples=p.observed_samples)
        return out

    async def Recommend(self, request, context):
        return await self.router.recommend(request)

    async def CreateStressTest(self, request, context):
        return await self.router.create_stress_test(request)

    async def GetStressTest(self, request, context):
        return await self.router.get_stress_test(request.testId)

    async def ReportOutcome(self, request, context):
        await self.router.report_outcome(request)
        return pb.ReportOutcomeResponse()
