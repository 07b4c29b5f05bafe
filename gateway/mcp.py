"""/mcp on the edge: cerver-mcp's tools over MCP's Streamable HTTP
transport, for agents that have nothing installed. The edge checks the
caller's key, then passes the request (and the streamed answer) to the MCP
listener it hosts on loopback, vouching for the account."""
import aiohttp
import grpc
from aiohttp import web

from cerver_mcp.http import HttpHost
from gateway.transcode import status_json
from servicekit import auth, config, errors, peers

PATH = "/mcp"
# Not passed on: hop-by-hop headers, the Host (the listener's own), and
# anything a caller could use to vouch for itself.
DROPPED = {"host", "connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
           "proxy-authorization", "content-length"}


class McpRoute:
    def __init__(self):
        self.host = HttpHost()
        self.port = 0
        self.http: aiohttp.ClientSession | None = None

    async def start(self, api_url: str) -> None:
        self.port = await self.host.start(api_url)
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
                                          auto_decompress=False)

    async def close(self) -> None:
        if self.http is not None:
            await self.http.close()
        await self.host.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        key = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        try:
            resolved = await peers.resolve_key(key) if key.isascii() and key.isprintable() and key else None
        except errors.ServiceError as exc:  # an expired key, said so
            resolved, message = None, exc.message
        except grpc.aio.AioRpcError:
            return _answer(503, 14, "a Cerver service is unavailable; try again shortly")
        else:
            message = "missing or invalid API key"
        if resolved is None:
            return _answer(401, 16, message, {"WWW-Authenticate": "Bearer"})
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() not in DROPPED and not k.lower().startswith("x-cerver-")}
        headers[auth.SERVICE_TOKEN_HEADER] = config.service_token()
        headers[auth.ACCOUNT_HEADER] = resolved[0]
        try:
            upstream = await self.http.request(
                request.method, f"http://127.0.0.1:{self.port}{PATH}", headers=headers, params=request.query,
                data=request.content if request.can_read_body else None, allow_redirects=False)
        except aiohttp.ClientError:
            return _answer(503, 14, "the MCP listener is unavailable; try again shortly")
        async with upstream:
            response = web.StreamResponse(status=upstream.status, headers={
                k: v for k, v in upstream.headers.items() if k.lower() not in DROPPED})
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():  # server-sent events as they come
                await response.write(chunk)
            await response.write_eof()
            return response


def _answer(status: int, code: int, message: str, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, body=status_json(code, message), content_type="application/json",
                        headers=headers)
