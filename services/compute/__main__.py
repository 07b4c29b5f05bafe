"""python -m services.compute — the compute service with the local adapter."""
import logging

from cerver.v2 import compute_pb2, compute_pb2_grpc
from servicekit import config, peers, server
from servicekit.db import open_database
from services.compute.adapters.local import LocalProvider, bwrap_usable
from services.compute.domain import Computes
from services.compute.handlers import ComputeHandlers
from services.compute.store import TABLES

log = logging.getLogger("cerver.compute")


def local_provider() -> LocalProvider:
    """Isolated with bubblewrap, or refuse to start unless told, loudly, to
    run sandboxes unisolated."""
    usable, why = bwrap_usable()
    if not usable:
        if not config.env_bool("CERVER_ALLOW_UNISOLATED"):
            raise SystemExit(f"compute: {why}. Local sandboxes need bubblewrap (apt-get install bubblewrap). "
                             "Set CERVER_ALLOW_UNISOLATED=1 to run them WITHOUT isolation.")
        log.warning("!!! %s: local sandboxes run UNISOLATED, with this user's rights and view of the host !!!", why)
    return LocalProvider(config.data_dir() / "compute", isolated=usable,
                         memory_mb=int(config.env("CERVER_SANDBOX_MEMORY_MB", "4096")),
                         output_cap=int(config.env("CERVER_SANDBOX_OUTPUT_BYTES", str(1 << 20))),
                         warm=int(config.env("CERVER_SANDBOX_WARM", "2")))


async def start(address: str) -> server.Host:
    db = await open_database("compute", TABLES)
    local = local_provider()
    computes = Computes(db, {"local": local}, max_sandboxes=int(config.env("CERVER_MAX_SANDBOXES", "256")))
    await computes.register_local(str(config.data_dir()), local.isolated)
    await local.start()
    host = server.Host("compute", peers.remote_authenticator())
    host.add(ComputeHandlers(computes), compute_pb2_grpc.add_ComputeServiceServicer_to_server, compute_pb2.DESCRIPTOR.services_by_name["ComputeService"])
    await host.start(address)

    async def stop() -> None:
        await computes.close()
        await peers.close_all()
        await db.close()

    host.on_stop(stop)
    return host


if __name__ == "__main__":
    server.serve("compute", start)
