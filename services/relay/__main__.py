"""python -m services.relay — the relay service.

Its contract (proto/cerver/v2/relay.proto) is complete; forwarding to
connected agents lands with the relay issue, so Forward and GetConnection
answer UNIMPLEMENTED until then."""
from cerver.v2 import relay_pb2, relay_pb2_grpc
from servicekit import peers, server


async def start(address: str) -> server.Host:
    host = server.Host("relay", peers.remote_authenticator())
    host.add(relay_pb2_grpc.RelayServiceServicer(), relay_pb2_grpc.add_RelayServiceServicer_to_server, relay_pb2.DESCRIPTOR.services_by_name["RelayService"])
    await host.start(address)
    host.on_stop(peers.close_all)
    return host


if __name__ == "__main__":
    server.serve("relay", start)
