"""python -m gateway — the embedded REST edge on CERVER_HTTP_HOST:CERVER_HTTP_PORT."""
from aiohttp import web

from gateway.edge import Edge
from servicekit import config, server

if __name__ == "__main__":
    server.configure_logging()
    web.run_app(Edge().app(), host=config.env("CERVER_HTTP_HOST", "127.0.0.1"),
                port=int(config.env("CERVER_HTTP_PORT", "8080")), print=None, access_log=None)
