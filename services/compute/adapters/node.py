"""The `local` provider: sandboxes on this deployment's node runtime
(services/node, at CERVER_NODE_ADDR), called directly."""
from cerver.v2 import node_pb2, node_pb2_grpc
from servicekit import auth, peers
from services.compute.adapters.calls import CallAdapter


class NodeProvider(CallAdapter):
    provider = "local"

    def _stub(self) -> node_pb2_grpc.NodeServiceStub:
        return peers.stub("node", node_pb2_grpc.NodeServiceStub)

    def _send(self, request, metadata, timeout):
        return self._stub().Call(request, metadata=metadata, timeout=timeout)

    async def describe(self, wait_s: float = 60.0) -> node_pb2.NodeInfo:
        """The node's capabilities and sandboxes; waits for it to come up
        (it starts beside this service)."""
        return await self._stub().Describe(node_pb2.DescribeNodeRequest(), metadata=auth.service_metadata(""),
                                           timeout=wait_s, wait_for_ready=True)
