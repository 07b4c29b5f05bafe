"""RelayService RPCs."""
from cerver.v2 import relay_pb2 as pb
from cerver.v2 import relay_pb2_grpc
from servicekit import auth, errors
from servicekit.clock import to_timestamp
from services.relay.hub import Hub


class RelayHandlers(relay_pb2_grpc.RelayServiceServicer):
    def __init__(self, hub: Hub):
        self.hub = hub

    async def Forward(self, request, context):
        if not request.compute_id or request.WhichOneof("call") is None:
            raise errors.invalid("compute_id and a call are required")
        async for reply in self.hub.forward(request, auth.account_id(), context.time_remaining()):
            yield reply

    async def GetConnection(self, request, context):
        row = await self.hub.connection(request.compute_id)
        if row is None or row.account_id != auth.account_id():
            return pb.Connection(compute_id=request.compute_id, connected=False)
        return pb.Connection(compute_id=row.compute_id, connected=True, replica=row.replica_id,
                             connected_at=to_timestamp(row.connected_at))
