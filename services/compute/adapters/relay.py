"""The `relay` provider: sandboxes on private machines. Every call goes to
the relay service, which hands it to the machine's node runtime over its
WebSocket."""
from cerver.v2 import relay_pb2_grpc
from servicekit import peers
from services.compute.adapters.calls import CallAdapter


class RelayProvider(CallAdapter):
    provider = "relay"

    def _send(self, request, metadata, timeout):
        return peers.stub("relay", relay_pb2_grpc.RelayServiceStub).Forward(request, metadata=metadata,
                                                                             timeout=timeout)
