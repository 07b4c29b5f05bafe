"""python -m gateway — the embedded REST edge on CERVER_HTTP_HOST:CERVER_HTTP_PORT,
and its preview listener on CERVER_PREVIEW_ADDR when set."""
import asyncio

from gateway.edge import Edge
from gateway.previews import PreviewListener
from servicekit import config, server, telemetry


async def main() -> None:
    telemetry.setup("edge")
    runner = await Edge().start(config.settings().http_host, config.settings().http_port)
    previews = PreviewListener()
    if config.settings().preview_addr:
        await previews.start(config.settings().preview_addr)
    await server.wait_for_shutdown()
    await previews.close()
    await runner.cleanup()


if __name__ == "__main__":
    server.check_settings("edge")
    server.configure_process()
    asyncio.run(main())
