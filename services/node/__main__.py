"""python -m services.node — this machine's node runtime: its sandboxes,
served to the compute service over gRPC. It outlives the control plane:
compute, sessions and the rest can restart without taking a sandbox along."""
from cerver.v2 import node_pb2, node_pb2_grpc
from servicekit import config, peers, server, telemetry
from services.compute.adapters.local import LocalProvider
from services.node.handlers import NodeHandlers
from services.node.previews import PreviewListener
from services.node.runtime import NodeRuntime


async def start(address: str) -> server.Host:
    host = server.Host("node", peers.remote_authenticator())
    # Held while the sandboxes start (seconds): the preview listener's port
    # and the sandboxes' own sockets are the system's choosing meanwhile.
    host.bind(address)
    provider = await LocalProvider.from_env(config.data_dir() / "compute")
    await provider.start()
    runtime = NodeRuntime(provider)
    telemetry.meter("cerver.node").create_observable_gauge(
        "cerver.sandboxes", callbacks=[runtime.observe], description="Sandboxes on this node, running and warm")
    previews = PreviewListener(runtime)
    runtime.preview_port = await previews.start(config.node_preview_addr(address))
    host.add(NodeHandlers(runtime), node_pb2_grpc.add_NodeServiceServicer_to_server,
             node_pb2.DESCRIPTOR.services_by_name["NodeService"])
    host.on_stop(provider.close)
    host.on_stop(previews.close)
    await host.start(address)
    return host


if __name__ == "__main__":
    server.serve("node", start)
