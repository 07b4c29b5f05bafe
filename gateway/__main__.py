"""python -m gateway — the embedded REST edge on CERVER_HTTP_HOST:CERVER_HTTP_PORT,
and its preview listener on CERVER_PREVIEW_ADDR when set."""
import asyncio

from gateway.edge import Edge
from gateway.previews import PreviewListener
from servicekit import config, server, telemetry


async def main() -> None:
    telemetry.setup("edge")
    runner = await Edge().start(config.env("CERVER_HTTP_HOST", "127.0.0.1"), int(config.env("CERVER_HTTP_PORT", "8080")))
    previews = PreviewListener()
    if config.preview_addr():
        await previews.start(config.preview_addr())
    await server.wait_for_shutdown()
    await previews.close()
    await runner.cleanup()


if __name__ == "__main__":
    server.configure_process()
    asyncio.run(main())
