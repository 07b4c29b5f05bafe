"""The edge's preview listener: public previews by host name. The first
label of a request's Host names a session and carries its signature
(services/sessions/previews.py); sessions says where that session's
sandbox is, and from then on the connection's bytes pass to and from the
sandbox's port through the node that holds it (HTTP with keep-alive,
WebSocket, server-sent events: anything over one connection).

By host name, not by path: an app served under a path prefix would break
on its own absolute links (/static/...)."""
import asyncio
import http

import grpc

from cerver.v2 import sessions_pb2, sessions_pb2_grpc
from gateway.transcode import HTTP_STATUS, status_json
from servicekit import auth, config, errors, peers
from servicekit.splice import Listener, splice

HEAD_LIMIT = 16 << 10
HEAD_TIMEOUT_S = 30.0
NODE_TIMEOUT_S = 10.0
# What the node answers when it cannot join the connection to the port.
NODE_REFUSALS = {"not_found": (404, 5), "invalid": (400, 3), "unavailable": (502, 14)}


class PreviewListener(Listener):
    limit = HEAD_LIMIT

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
            except (asyncio.IncompleteReadError, asyncio.TimeoutError, asyncio.LimitOverrunError, ValueError):
                return await _answer(writer, 400, 3, f"expected an HTTP request head of at most {HEAD_LIMIT} bytes")
            label = _host(head).split(".", 1)[0]
            try:
                target = await peers.stub("sessions", sessions_pb2_grpc.SessionServiceStub).ResolvePreview(
                    sessions_pb2.ResolvePreviewRequest(label=label), metadata=auth.service_metadata(""),
                    timeout=config.CALL_TIMEOUT_S)
            except grpc.aio.AioRpcError as err:
                code = err.code().value[0]
                return await _answer(writer, HTTP_STATUS.get(code, 500), code, errors.describe(err))
            try:
                upstream = await asyncio.wait_for(asyncio.open_connection(
                    *target.node_preview_address.rsplit(":", 1)), NODE_TIMEOUT_S)
                upstream[1].write(f"{config.service_token()} {target.sandbox_id} {target.port}\n".encode())
                reply = await asyncio.wait_for(upstream[0].readline(), NODE_TIMEOUT_S)
            except (OSError, asyncio.TimeoutError, ValueError):
                return await _answer(writer, 503, 14, "the preview's node does not answer; try again shortly")
            if reply != b"ok\n":
                upstream[1].close()
                kind, _, message = reply.decode("utf-8", "replace").removeprefix("error ").partition(" ")
                status, code = NODE_REFUSALS.get(kind, (502, 14))
                return await _answer(writer, status, code, message.strip() or "the node refused the preview")
            upstream[1].write(head)
            await splice((reader, writer), upstream)
        except (ConnectionError, OSError):
            writer.close()


def _host(head: bytes) -> str:
    """The Host header's name, without a port."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"host":
            host = value.strip().decode("ascii", "replace")
            return host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return ""


async def _answer(writer: asyncio.StreamWriter, status: int, code: int, message: str) -> None:
    """An error as the API's: a JSON google.rpc.Status; the connection ends."""
    body = status_json(code, message)
    writer.write(f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\nContent-Type: application/json\r\n"
                 f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    try:
        await writer.drain()
    finally:
        writer.close()
