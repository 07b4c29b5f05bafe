"""cerver-mcp over MCP's Streamable HTTP transport, as the edge serves it at
/mcp: the same tools, called as the account whose key the edge checked (it
vouches with the service token; this listener is on loopback, behind it).
Stateless: any edge replica answers any request."""
import asyncio
import contextlib

import uvicorn
from mcp.server.transport_security import TransportSecuritySettings

from cerver_mcp import server


class _Embedded(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        # The hosting process (the edge) handles its own signals.
        yield


class HttpHost:
    def __init__(self):
        self._server: _Embedded | None = None
        self._task: asyncio.Task | None = None

    async def start(self, api_url: str) -> int:
        """Serves on 127.0.0.1, the tools calling the API at api_url (the
        edge itself); the port it got."""
        server.edge_api_url = api_url
        # Host and Origin checks guard keyless local servers against DNS
        # rebinding; every call here carries a key the edge has checked.
        app = server.server.streamable_http_app(stateless_http=True, transport_security=TransportSecuritySettings(
            enable_dns_rebinding_protection=False))
        self._server = _Embedded(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                                lifespan="on", access_log=False))
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                await self._task  # it failed to start: say why
                raise RuntimeError("the MCP listener stopped at start")
            await asyncio.sleep(0.01)
        return self._server.servers[0].sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
