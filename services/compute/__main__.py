"""python -m services.compute — the compute service: the registry of computes
and sandboxes, over the deployment's nodes (local, found at CERVER_NODE_ADDR),
the relay (private machines), a cluster and the accounts' cloud providers."""
from cerver.v2 import compute_pb2, compute_pb2_grpc
from servicekit import config, peers, server
from servicekit.db import open_database
from servicekit.quotas import Quotas
from services.compute.adapters.cloudflare import CloudflareProvider
from services.compute.adapters.daytona import DaytonaProvider
from services.compute.adapters.e2b import E2BProvider
from services.compute.adapters.kubernetes import KubernetesProvider
from services.compute.adapters.modal import ModalProvider
from services.compute.adapters.vercel import VercelProvider
from services.compute.cloud import CloudAccounts
from services.compute.domain import Computes
from services.compute.handlers import ComputeHandlers

# The cloud providers an account can enable (servicekit.providers names them all).
CLOUD_ADAPTERS = (CloudflareProvider, DaytonaProvider, E2BProvider, ModalProvider, VercelProvider)


async def start(address: str) -> server.Host:
    db = await open_database("compute")
    cluster = config.kubernetes()
    adapters = {"kubernetes": await KubernetesProvider.connect(cluster)} if cluster else {}
    computes = Computes(db, adapters, heartbeat_window_s=config.settings().heartbeat_window_s,
                        quotas=Quotas.from_env(), cloud=CloudAccounts(CLOUD_ADAPTERS))
    # Nodes starting beside this service get a while to come up.
    await computes.poll(wait_s=config.settings().node_wait_s)
    host = server.Host("compute", peers.remote_authenticator())
    host.add(ComputeHandlers(computes), compute_pb2_grpc.add_ComputeServiceServicer_to_server,
             compute_pb2.DESCRIPTOR.services_by_name["ComputeService"])
    host.on_stop(db.close)
    host.on_stop(computes.close)
    await host.start(address)
    host.every(config.settings().reap_interval_s, computes.reap_idle, "idle sandbox sweep")
    host.every(config.settings().node_poll_s, computes.poll, "node and cluster heartbeat")
    return host


if __name__ == "__main__":
    server.serve("compute", start)
