"""Two byte streams joined both ways (a preview's connection, hop by hop),
and the TCP listeners that join them."""
import asyncio

PIPE_BYTES = 64 << 10


class Listener:
    """A TCP listener whose connections go to `_serve`."""
    limit = 64 << 10  # what a reader buffers (the longest line or head it takes)

    def __init__(self):
        self.server: asyncio.Server | None = None

    async def start(self, address: str) -> int:
        """Listens at address (host:port, port 0 for any); the port it got."""
        host, _, port = address.rpartition(":")
        self.server = await asyncio.start_server(self._serve, host.strip("[]") or None, int(port or 0),
                                                 limit=self.limit)
        return self.server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Bytes from reader to writer until either side ends; then half-close."""
    try:
        while data := await reader.read(PIPE_BYTES):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def splice(a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 b: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
    """Both directions at once, until both have ended; then both close."""
    try:
        await asyncio.gather(pipe(a[0], b[1]), pipe(b[0], a[1]))
    finally:
        for _, writer in (a, b):
            writer.close()
