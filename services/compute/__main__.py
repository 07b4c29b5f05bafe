"""python -m services.compute — the compute service: the registry of computes
and sandboxes, over the node runtime (local) and the relay (private machines)."""
from cerver.v2 import compute_pb2, compute_pb2_grpc
from servicekit import config, peers, server
from servicekit.db import open_database
from services.node.client import clients
from servicekit.quotas import Quotas
from services.compute.domain import Computes
from services.compute.handlers import ComputeHandlers


async def start(address: str) -> server.Host:
    db = await open_database("compute")
    adapters = clients()
    computes = Computes(db, adapters,
                        max_sandboxes=int(config.env("CERVER_MAX_SANDBOXES", "256")),
                        heartbeat_window_s=int(config.env("CERVER_HEARTBEAT_WINDOW_S", "60")),
                        quotas=Quotas.from_env())
    await computes.register_local(await adapters["local"].describe())
    host = server.Host("compute", peers.remote_authenticator())
    host.add(ComputeHandlers(computes), compute_pb2_grpc.add_ComputeServiceServicer_to_server,
             compute_pb2.DESCRIPTOR.services_by_name["ComputeService"])
    host.on_stop(db.close)
    host.on_stop(computes.close)
    await host.start(address)
    host.every(config.env_float("CERVER_REAP_INTERVAL_S", 5.0), computes.reap_idle, "idle sandbox sweep")
    return host


if __name__ == "__main__":
    server.serve("compute", start)
