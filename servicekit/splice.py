"""Two byte streams joined both ways (a preview's connection, hop by hop)."""
import asyncio

PIPE_BYTES = 64 << 10


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
