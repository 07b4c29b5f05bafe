"""GET /v2/connect/ws: where agents on private machines connect, with their
API key, to serve the sandbox contract for their compute."""
from aiohttp import WSCloseCode, WSMsgType, web
from cerver.v2 import compute_pb2, compute_pb2_grpc

import grpc

from servicekit import auth, config, errors, peers
from services.relay.hub import AgentLink, Hub


def _refuse(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message, "details": []}, status=status)


class AgentSocket:
    def __init__(self, hub: Hub, authenticator: auth.Authenticator):
        self.hub = hub
        self.authenticator = authenticator

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v2/connect/ws", self.connect)
        return app

    async def connect(self, request: web.Request) -> web.StreamResponse:
        compute_id = request.query.get("compute_id", "")
        if not compute_id:
            return _refuse(400, 3, "compute_id is required (register with POST /v2/computes/register)")
        try:
            principal = await self.authenticator.principal({"authorization": request.headers.get("Authorization", "")})
        except errors.ServiceError as exc:
            return _refuse(401, 16, exc.message)
        # The compute must be this account's own private compute.
        stub = peers.stub("compute", compute_pb2_grpc.ComputeServiceStub)
        try:
            compute = await stub.GetCompute(compute_pb2.GetComputeRequest(compute_id=compute_id),
                                            metadata=principal.outgoing_metadata(), timeout=10)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return _refuse(404, 5, f"compute {compute_id!r} not found")
            return _refuse(503, 14, "the compute registry is unavailable")
        if compute.provider != "relay":
            return _refuse(400, 3, f"compute {compute_id} is not a private (relay) compute")
        ws = web.WebSocketResponse(heartbeat=20, max_msg_size=config.MAX_MESSAGE_BYTES)
        await ws.prepare(request)
        link = AgentLink(ws, compute_id, principal.account_id)
        await self.hub.attach(link)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    if not link.dispatch(msg.data):
                        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"not a RelayFrame, or past its credit")
                        break
                elif msg.type == WSMsgType.TEXT:
                    await ws.close(code=WSCloseCode.UNSUPPORTED_DATA,
                                   message=b"this relay takes binary RelayFrames: update cerver on the machine")
                    break
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            await self.hub.detach(link)
        return ws
