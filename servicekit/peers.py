"""Clients for calling other services over gRPC, found by CERVER_<NAME>_ADDR.
Calls carry the current caller's credentials (see servicekit.auth)."""
from typing import TypeVar

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors

from cerver.v2 import auth_pb2, auth_pb2_grpc
from servicekit import auth, config, errors

S = TypeVar("S")
_channels: dict[str, grpc.aio.Channel] = {}
BALANCED = ("ipv4:", "ipv6:", "dns:")  # gRPC target schemes that may name several replicas
_stubs: dict[tuple[str, type], tuple[grpc.aio.Channel, object]] = {}


def channel(service: str) -> grpc.aio.Channel:
    """One long-lived channel per peer and process (created lazily, inside
    the running event loop)."""
    return channel_to(config.peer_addr(service))


def channel_to(address: str) -> grpc.aio.Channel:
    """One long-lived channel per address and process: a service's, or one
    replica's (the relay replica that holds a machine's socket)."""
    ch = _channels.get(address)
    if ch is None:
        options = [("grpc.max_receive_message_length", config.MAX_REPLY_BYTES),
                   ("grpc.max_send_message_length", config.MAX_MESSAGE_BYTES),
                   # A peer restarts in seconds: reconnect within as much
                   # (gRPC's default backoff grows to 2 minutes of refusals).
                   ("grpc.initial_reconnect_backoff_ms", 250),
                   ("grpc.max_reconnect_backoff_ms", 2000)]
        if address.startswith(BALANCED):
            # Calls spread over every address the target names (replicas:
            # `ipv4:a,b`, or `dns:///name` of a headless Service's pods),
            # skipping those down. A plain host:port keeps one connection.
            options.append(("grpc.lb_policy_name", "round_robin"))
        # Every call carries the caller's trace (W3C trace context in the metadata).
        ch = grpc.aio.insecure_channel(address, options=options, interceptors=aio_client_interceptors())
        _channels[address] = ch
    return ch


def stub(service: str, stub_class: type[S]) -> S:
    """A generated stub on the peer's channel."""
    return stub_at(config.peer_addr(service), stub_class)


def stub_at(address: str, stub_class: type[S]) -> S:
    """A generated stub on the channel to address, built once per channel: a
    stub builds a callable for every method of its service."""
    ch = channel_to(address)
    cached = _stubs.get((address, stub_class))
    if cached is None or cached[0] is not ch:
        cached = _stubs[(address, stub_class)] = (ch, stub_class(ch))
    return cached[1]


async def close_all() -> None:
    for ch in list(_channels.values()):
        await ch.close()
    _channels.clear()
    _stubs.clear()


def credentials() -> tuple[tuple[str, str], ...]:
    return auth.current().outgoing_metadata()


async def resolve_key(api_key: str) -> tuple[str, str] | None:
    """KeyResolver backed by AuthService.Authenticate."""
    authenticate = stub("auth", auth_pb2_grpc.AuthServiceStub).Authenticate
    try:
        p = await authenticate(auth_pb2.AuthenticateRequest(api_key=api_key), metadata=auth.service_metadata(),
                               timeout=10)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            refused = errors.from_rpc_error(err)
            if errors.has_reason(refused, errors.KEY_EXPIRED):
                raise refused from None  # the caller is told the key expired, not that it is unknown
            return None
        raise
    return p.account_id, p.key_prefix


def remote_authenticator() -> auth.Authenticator:
    return auth.Authenticator(resolve_key)
