"""python -m gateway — the embedded REST edge on CERVER_HTTP_HOST:CERVER_HTTP_PORT."""
import asyncio

from gateway.edge import Edge
from servicekit import config, server


async def main() -> None:
    runner = await Edge().start(config.env("CERVER_HTTP_HOST", "127.0.0.1"), int(config.env("CERVER_HTTP_PORT", "8080")))
    await server.wait_for_shutdown()
    await runner.cleanup()


if __name__ == "__main__":
    server.configure_process()
    asyncio.run(main())
