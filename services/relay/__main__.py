"""python -m services.relay — the relay: gRPC on CERVER_LISTEN_ADDR /
CERVER_RELAY_ADDR, agent WebSockets on CERVER_RELAY_WS_ADDR."""
import os
import socket

from aiohttp import web

from cerver.v2 import relay_pb2, relay_pb2_grpc
from servicekit import config, peers, server
from servicekit.db import open_database
from services.relay.handlers import RelayHandlers
from services.relay.hub import Hub
from services.relay.socket import AgentSocket
from services.relay.store import RelayStore


async def start(address: str, ws_address: str | None = None, advertise: str | None = None) -> server.Host:
    db = await open_database("relay")
    authenticator = peers.remote_authenticator()
    host = server.Host("relay", authenticator)
    # Other replicas reach this one here (a pod's IP in Kubernetes).
    replica_addr = advertise or config.settings().relay_advertise_addr or address
    hub = Hub(RelayStore(db), config.settings().relay_replica or f"{socket.gethostname()}:{os.getpid()}:{replica_addr}",
              replica_addr)
    host.add(RelayHandlers(hub), relay_pb2_grpc.add_RelayServiceServicer_to_server,
             relay_pb2.DESCRIPTOR.services_by_name["RelayService"])
    await host.start(address)
    ws_host, _, ws_port = (ws_address or config.settings().relay_ws_addr).rpartition(":")
    runner = web.AppRunner(AgentSocket(hub, authenticator).app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, ws_host or "0.0.0.0", int(ws_port)).start()

    host.on_stop(db.close)
    host.on_stop(runner.cleanup)
    host.on_stop(hub.close)
    return host


if __name__ == "__main__":
    server.serve("relay", start)
