"""python -m services.router — the routing engine."""
from cerver.v2 import router_pb2, router_pb2_grpc
from servicekit import peers, server
from servicekit.db import open_database
from services.router.catalog import LiveCatalog
from services.router.domain import Router
from services.router.engine import load_catalog
from services.router.handlers import RouterHandlers
from services.router.store import RouterStore


async def start(address: str) -> server.Host:
    db = await open_database("router")
    store = RouterStore(db)
    router = Router(store, LiveCatalog(store, load_catalog()))
    host = server.Host("router", peers.remote_authenticator())
    host.add(RouterHandlers(router), router_pb2_grpc.add_RouterServiceServicer_to_server,
             router_pb2.DESCRIPTOR.services_by_name["RouterService"])
    host.on_stop(db.close)
    host.on_stop(router.close)
    await host.start(address)
    return host


if __name__ == "__main__":
    server.serve("router", start)
