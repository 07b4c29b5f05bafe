"""Clients for calling other services over gRPC, found by CERVER_<NAME>_ADDR.
Calls carry the current caller's credentials (see servicekit.auth)."""
import grpc

from cerver.v2 import auth_pb2, auth_pb2_grpc
from servicekit import auth, config

_channels: dict[str, grpc.aio.Channel] = {}


def channel(service: str) -> grpc.aio.Channel:
    """One long-lived channel per peer and process (created lazily, inside
    the running event loop)."""
    ch = _channels.get(service)
    if ch is None:
        ch = grpc.aio.insecure_channel(config.peer_addr(service), options=[
            ("grpc.max_receive_message_length", 16 * 1024 * 1024),
            ("grpc.max_send_message_length", 16 * 1024 * 1024)])
        _channels[service] = ch
    return ch


async def close_all() -> None:
    for ch in list(_channels.values()):
        await ch.close()
    _channels.clear()


def credentials() -> tuple[tuple[str, str], ...]:
    return auth.current().outgoing_metadata()


async def resolve_key(api_key: str) -> tuple[str, str] | None:
    """KeyResolver backed by AuthService.Authenticate."""
    stub = auth_pb2_grpc.AuthServiceStub(channel("auth"))
    try:
        p = await stub.Authenticate(auth_pb2.AuthenticateRequest(api_key=api_key),
                                    metadata=auth.service_metadata(), timeout=10)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            return None
        raise
    return p.account_id, p.key_prefix


def remote_authenticator() -> auth.Authenticator:
    return auth.Authenticator(resolve_key)
