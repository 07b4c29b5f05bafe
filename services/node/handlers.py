"""NodeService RPCs: sandbox calls from the compute service, answered by
the node runtime."""
import socket

import grpc

from cerver.v2 import compute_pb2, node_pb2, node_pb2_grpc
from servicekit import errors
from services.compute.adapters.base import SandboxGone, SandboxRefused
from services.node.runtime import NodeRuntime


class NodeHandlers(node_pb2_grpc.NodeServiceServicer):
    def __init__(self, runtime: NodeRuntime):
        self.runtime = runtime

    async def Call(self, request, context):
        try:
            async for reply, _ in self.runtime.handle(request):
                yield reply
        except SandboxRefused as exc:
            raise errors.ServiceError(grpc.StatusCode.NOT_FOUND if exc.not_found
                                      else grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        except SandboxGone as exc:
            raise errors.ServiceError(grpc.StatusCode.NOT_FOUND, str(exc)) from None

    async def Describe(self, request, context):
        return node_pb2.NodeInfo(
            capabilities=compute_pb2.ComputeCapabilities(**self.runtime.capabilities),
            sandbox_ids=self.runtime.sandbox_ids(), node_id=self.runtime.node_id, hostname=socket.gethostname(),
            boot_id=self.runtime.boot_id, preview_port=self.runtime.preview_port)
