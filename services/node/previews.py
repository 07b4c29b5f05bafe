"""Public previews on a node: the edge's preview listener connects here,
names a sandbox and a port (with the service token), and from then on bytes
pass both ways (HTTP, WebSocket, anything over TCP).

The connection to the port is made inside the sandbox's own network
namespace (isolation/netns.py), whatever the caller names."""
import asyncio
import hmac

from servicekit import config
from servicekit.splice import Listener, splice
from services.compute.adapters.base import SandboxGone, SandboxRefused

HANDSHAKE_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 4096


class PreviewListener(Listener):
    """One per node: `{service token} {sandbox_id} {port}\\n` in; `ok\\n` or
    `error <kind> <message>\\n` out; then the sandbox's port. At most
    MAX_CONNECTIONS at once: a flood of previews cannot take the node's
    file descriptors."""

    def __init__(self, runtime):
        super().__init__()
        self.runtime = runtime
        self.open = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.open >= MAX_CONNECTIONS:
            return await _refuse(writer, "unavailable", "this node serves as many preview connections as it can")
        self.open += 1
        try:
            await self._join(reader, writer)
        finally:
            self.open -= 1

    async def _join(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                line = await asyncio.wait_for(reader.readline(), HANDSHAKE_TIMEOUT_S)
                token, sandbox_id, port = line.decode("ascii").split()
                port = int(port)
            except (ValueError, UnicodeDecodeError, asyncio.TimeoutError, asyncio.LimitOverrunError):
                return await _refuse(writer, "invalid", "expected: <token> <sandbox_id> <port>")
            expected = config.service_token()
            if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
                return await _refuse(writer, "unauthenticated", "invalid service token")
            try:
                sock = await self.runtime.connect_preview(sandbox_id, port)
            except SandboxRefused as exc:
                return await _refuse(writer, "not_found" if exc.not_found else "invalid", str(exc))
            except (SandboxGone, OSError) as exc:
                return await _refuse(writer, "unavailable", f"nothing answers on port {port} in the sandbox "
                                                            f"({exc.__class__.__name__})")
            writer.write(b"ok\n")
            upstream = await asyncio.open_connection(sock=sock)
            await splice((reader, writer), upstream)
        except (ConnectionError, OSError):
            writer.close()


async def _refuse(writer: asyncio.StreamWriter, kind: str, message: str) -> None:
    writer.write(f"error {kind} {message}\n".encode())
    try:
        await writer.drain()
    finally:
        writer.close()
