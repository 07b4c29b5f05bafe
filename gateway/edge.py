"""The embedded REST edge: the same transcoding Envoy's grpc_json_transcoder
does, driven by the same descriptor set, for the embedded default."""
import asyncio
import json
import logging
import math

import aiohttp
import grpc
from aiohttp import web, web_protocol, web_server
from google.rpc import status_pb2

from gateway import BACKENDS, DESCRIPTOR_SET, DEVICE_PAGE, dashboard, mcp, openapi, routes
from gateway.mcp import McpRoute
from gateway.transcode import HTTP_STATUS, BadRequest, build_request, path_value, query_bindings, status_json, to_json
from servicekit import config, errors, limits, peers, telemetry

log = logging.getLogger("cerver.edge")
JSON = "application/json"
# Request headers passed to the services as gRPC metadata.
FORWARDED_HEADERS = ("authorization", "x-request-id", "idempotency-key")
# Response metadata passed back as HTTP headers.
PASSED_METADATA_PREFIX = "x-cerver-"
# Private machines' agents; proxied to the relay as Envoy's WebSocket route does.
RELAY_SOCKET_PATH = "/v2/connect/ws"
OWN_PAGES = ("/", "/v2/docs", "/device", RELAY_SOCKET_PATH)  # served by the edge itself, GET only


def _identity(b: bytes) -> bytes:
    return b


async def _pieces(request: web.Request, route: routes.Route, first):
    """A streamed upload's messages, as Envoy's transcoder makes them: the
    first carries what the path and query bind, each the next piece of the
    body (of FILE_PIECE_BYTES, so a piece is never held whole in memory twice)."""
    message, pending = first, bytearray()
    while True:
        data = await request.content.read(config.FILE_PIECE_BYTES - len(pending))
        pending += data
        if len(pending) < config.FILE_PIECE_BYTES and data:
            continue
        if pending or message is first:
            body = message
            for name in route.body.split("."):
                body = getattr(body, name)
            body.data = bytes(pending)
            yield message.SerializeToString()
            message, pending = route.request_class()(), bytearray()
        if not data:
            return


class _UnreadableBody(Exception):
    """A streamed upload's body ended malformed or cut short."""


class _Upload:
    """A streamed upload. Its body is read by a task the edge owns and
    handed to the call through a queue, and that task ends with the call: a
    service that refuses the upload before reading it (no key, a bad path)
    is answered at once, and nothing still waits on the body when the answer
    goes out (aiohttp then reads what is left itself, and fails if another
    reader waits). The call's requests are an iterator, not call.write():
    the OpenTelemetry client interceptor awaits a client stream's status
    before handing the call on, so writes would wait forever (and a cancel
    would not reach the call: an upload left unfinished is ended by failing
    its iterator, which gRPC answers by cancelling the call, never by ending
    the iterator, which would commit what came so far)."""

    _ABANDONED = object()

    def __init__(self, request: web.Request, route: routes.Route, first):
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=1)
        self._pieces = _pieces(request, route, first)
        self._read_whole = False

    async def requests(self):
        while (piece := await self._queue.get()) is not None:
            if piece is self._ABANDONED:
                raise _UnreadableBody("the upload ended before its body did")
            yield piece

    async def answer(self, call) -> bytes:
        reader = asyncio.create_task(self._read(call))
        try:
            return await call
        except asyncio.CancelledError:
            # The reader cancels the call when the body cannot be read.
            if asyncio.current_task().cancelling() or not reader.done() or reader.cancelled() \
                    or reader.exception() is None:
                raise
            raise _UnreadableBody from reader.exception()
        finally:
            reader.cancel()
            await asyncio.wait({reader})
            if not reader.cancelled():
                reader.exception()  # retrieved: the answer already says it
            if not self._read_whole:
                while not self._queue.empty():
                    self._queue.get_nowait()
                self._queue.put_nowait(self._ABANDONED)

    async def _read(self, call) -> None:
        try:
            async for piece in self._pieces:
                await self._queue.put(piece)
        except Exception:
            call.cancel()
            raise
        self._read_whole = True
        await self._queue.put(None)


class Edge:
    def __init__(self, descriptor_set=DESCRIPTOR_SET, backends=BACKENDS):
        self.pool, files = routes.load(descriptor_set)
        self.routes = routes.build(self.pool, backends)
        comments = openapi.method_comments(files)
        self.docs = json.dumps(openapi.document(self.routes, comments, limits.documented_bounds()), separators=(",", ":")).encode()
        self.index = json.dumps(openapi.index(self.routes, comments), separators=(",", ":")).encode()
        self.device_page = DEVICE_PAGE.read_bytes()
        self.mcp = McpRoute()
        self.dashboard = dashboard.Dashboard(self.handle_rpc)

    def app(self) -> web.Application:
        # Traced (telemetry.trace_http_servers): a request's span is its
        # caller's trace (traceparent) and the parent of every gRPC call it makes.
        telemetry.trace_http_servers()
        app = web.Application(client_max_size=config.MAX_REQUEST_BODY_BYTES, middlewares=[self.json_errors])
        for path, handler in zip(OWN_PAGES, (self.handle_index, self.handle_docs, self.handle_device_page,
                                             self.handle_relay_socket)):
            app.router.add_get(path, handler)
        app.router.add_route("*", mcp.PATH, self.mcp.handle)
        self.dashboard.add_routes(app)
        # [\s\S]: a path with a newline (%0A) is still ours to answer.
        app.router.add_route("*", r"/{tail:[\s\S]*}", self.handle_rpc)
        app.on_cleanup.append(self._close)
        return app

    @web.middleware
    async def json_errors(self, request: web.Request, handler) -> web.StreamResponse:
        """What aiohttp answers by itself (405 on its own routes, a bad
        request line, an oversized body) as a google.rpc.Status too."""
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = {404: 5, 405: 12, 413: 8}.get(exc.status, 3 if exc.status < 500 else 13)
            response = self.error(exc.status, code, exc.reason)
            if "Allow" in exc.headers:
                response.headers["Allow"] = exc.headers["Allow"]
            return response

    async def start(self, host: str, port: int) -> web.AppRunner:
        # handler_cancellation: a client that disconnects cancels its
        # handler, and with it the upstream gRPC call (a stream's run).
        runner = _JsonErrorRunner(self.app(), handler_cancellation=True, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        await self.mcp.start(f"http://{'127.0.0.1' if host in ('', '0.0.0.0', '::') else host}:{port}")
        return runner

    async def _close(self, _app) -> None:
        await self.mcp.close()
        await peers.close_all()

    async def handle_index(self, request: web.Request) -> web.Response:
        return web.Response(body=self.index, content_type=JSON)

    async def handle_docs(self, request: web.Request) -> web.Response:
        return web.Response(body=self.docs, content_type=JSON)

    async def handle_device_page(self, request: web.Request) -> web.Response:
        return web.Response(body=self.device_page, content_type="text/html", charset="utf-8")

    def error(self, http_status: int, code: int, message: str, details=()) -> web.Response:
        return web.Response(status=http_status, body=status_json(code, message, details, self.pool), content_type=JSON)

    async def handle_rpc(self, request: web.Request) -> web.StreamResponse:
        # Matched on the path as sent, as Envoy matches it: a %2F inside a
        # segment is part of that segment's value, never a separator.
        raw_path, _, raw_query = request.raw_path.partition("?")
        found = routes.find(self.routes, request.method, raw_path)
        if found is None:
            verbs = ["GET"] if raw_path in (*OWN_PAGES, dashboard.SKILL_PATH) else routes.allowed(self.routes, raw_path)
            if verbs:
                response = self.error(405, 12, f"{request.method} is not served here; use {', '.join(verbs)}")
                response.headers["Allow"] = ", ".join(verbs)
                return response
            return self.error(404, 5, f"no route for {request.method} {request.path[:200]!r}")
        for header in FORWARDED_HEADERS:
            value = request.headers.get(header)
            if value is not None and not (value.isascii() and value.isprintable()):
                # gRPC metadata is printable ASCII; a key never holds anything else.
                return self.error(401 if header == "authorization" else 400, 16 if header == "authorization" else 3,
                                  f"the {header} header must be printable ASCII")
        route, raw_vars = found
        try:
            path_vars = {name: path_value(value, name in route.rest_fields) for name, value in raw_vars.items()}
            # A streamed upload's body is read piece by piece as it is sent on.
            body = await request.read() if route.body and not route.client_streaming else b""
            message = build_request(route, path_vars, query_bindings(raw_query), body, self.pool,
                                    request.headers.get("Content-Type", ""))
        except web.HTTPRequestEntityTooLarge:
            return self.error(413, 8, f"request body exceeds {config.MAX_REQUEST_BODY_BYTES} bytes")
        except BadRequest as exc:
            return self.error(exc.http_status, exc.code, str(exc))
        # The caller's address as this edge saw it: what a client sends as
        # X-Forwarded-For is dropped (rate limits per client rely on it).
        metadata = (*((h, request.headers[h]) for h in FORWARDED_HEADERS if h in request.headers),
                    ("x-forwarded-for", request.remote or "unknown"))
        response_class = route.response_class()
        channel = peers.channel(route.backend)
        if route.server_streaming:
            handler = self._download if route.raw_response else self._stream
            return await handler(request, channel, route, message, metadata, response_class)
        if route.client_streaming:
            upload = _Upload(request, route, message)
            call = channel.stream_unary(route.grpc_path, request_serializer=_identity,
                                        response_deserializer=_identity)(upload.requests(), metadata=metadata)
            answer = upload.answer(call)
        else:
            answer = call = channel.unary_unary(route.grpc_path, request_serializer=_identity,
                                                response_deserializer=_identity)(message.SerializeToString(),
                                                                                 metadata=metadata)
        try:
            raw = await answer
        except grpc.aio.AioRpcError as err:
            return self._rpc_error(err)
        except _UnreadableBody:
            return self.error(400, 3, "the request body could not be read")
        headers = _passed_headers(await call.initial_metadata())
        body = to_json(response_class.FromString(raw), self.pool)
        if len(body) > config.MAX_JSON_RESPONSE_BYTES:
            # As Envoy's transcoder answers past its max_response_body_size.
            return self.error(500, 13, f"the answer exceeds {config.MAX_JSON_RESPONSE_BYTES} bytes of JSON; "
                                       f"ask for less of it")
        return web.Response(body=body, content_type=JSON, headers=headers)

    async def _stream(self, request, channel, route, message, metadata, response_class):
        call = channel.unary_stream(route.grpc_path, request_serializer=_identity, response_deserializer=_identity)(
            message.SerializeToString(), metadata=metadata)
        try:
            # Read the first message before answering, so an error the RPC
            # fails with straight away still gets its HTTP status.
            first = await call.read()
        except grpc.aio.AioRpcError as err:
            return self._rpc_error(err)
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            **_passed_headers(await call.initial_metadata())})
        try:
            await response.prepare(request)
            raw = first
            while raw is not grpc.aio.EOF:
                await response.write(b"data: " + to_json(response_class.FromString(raw), self.pool) + b"\n\n")
                raw = await call.read()
        except grpc.aio.AioRpcError as err:
            await response.write(b"event: error\ndata: " + self._status_body(err) + b"\n\n")
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            call.cancel()  # the client went away: stop the run's stream upstream
            raise
        await response.write_eof()
        return response

    async def _download(self, request, channel, route, message, metadata, response_class):
        """A google.api.HttpBody stream as one response body, as Envoy's
        transcoder sends it: the first message's content type, then each
        message's bytes as they come."""
        call = channel.unary_stream(route.grpc_path, request_serializer=_identity, response_deserializer=_identity)(
            message.SerializeToString(), metadata=metadata)
        try:
            first = response_class.FromString(await call.read())
        except grpc.aio.AioRpcError as err:
            return self._rpc_error(err)
        response = web.StreamResponse(headers={"Content-Type": first.content_type or "application/octet-stream",
                                               **_passed_headers(await call.initial_metadata())})
        try:
            await response.prepare(request)
            await response.write(first.data)
            while (raw := await call.read()) is not grpc.aio.EOF:
                await response.write(response_class.FromString(raw).data)
        except grpc.aio.AioRpcError as err:
            # Too late for a status: the body is cut short (no last chunk),
            # so no client takes what it got for the whole file.
            log.warning("download %s ended early: %s", route.template, err.code().name)
            request.transport.abort()
            return response
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            call.cancel()
            raise
        await response.write_eof()
        return response

    async def handle_relay_socket(self, request: web.Request) -> web.StreamResponse:
        headers = {h: request.headers[h] for h in FORWARDED_HEADERS if h in request.headers}
        url = f"http://{config.settings().relay_ws_addr}{request.path_qs}"
        session = aiohttp.ClientSession()
        try:
            upstream = await session.ws_connect(url, headers=headers, max_msg_size=config.MAX_MESSAGE_BYTES)
        except aiohttp.WSServerHandshakeError as exc:
            refusal = await _relay_refusal(session, url, headers)
            await session.close()
            if refusal is not None:  # the relay's own words (its google.rpc.Status)
                return web.Response(status=exc.status, body=refusal, content_type=JSON)
            code = {401: 16, 404: 5, 400: 3}.get(exc.status, 14)
            return self.error(exc.status, code, f"the relay refused the connection ({exc.message})")
        except aiohttp.ClientError:
            await session.close()
            return self.error(503, 14, "the relay is unavailable")
        # Frames and messages are bounded both ways: one oversized frame is
        # refused as it arrives (close 1009), never buffered.
        client = web.WebSocketResponse(max_msg_size=config.MAX_MESSAGE_BYTES)
        await client.prepare(request)
        closed = {upstream: None, client: None}  # each side's close code and reason, once it closed
        try:
            pipes = {asyncio.create_task(_pipe(client, upstream)): client,
                     asyncio.create_task(_pipe(upstream, client)): upstream}
            done, _ = await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            for task in pipes:
                task.cancel()
            for task in done:
                if not task.cancelled() and task.exception() is None:
                    closed[pipes[task]] = task.result()
        finally:
            for side, other in ((upstream, client), (client, upstream)):
                code, reason = closed[other] or (aiohttp.WSCloseCode.OK, "")
                await side.close(code=code, message=reason.encode())
            await session.close()
        return client

    def _status_body(self, err: grpc.aio.AioRpcError) -> bytes:
        for key, value in err.trailing_metadata() or ():
            if key == "grpc-status-details-bin":
                return to_json(status_pb2.Status.FromString(value), self.pool)
        # gRPC's own error (the service is down, a deadline): its text names
        # internal addresses, so the caller gets a plain sentence instead.
        return status_json(err.code().value[0], errors.describe(err), (), self.pool)

    def _rpc_error(self, err: grpc.aio.AioRpcError) -> web.Response:
        code = err.code().value[0]
        body = self._status_body(err)
        headers = {}
        retry = _retry_after(body) or ("1" if err.code() == grpc.StatusCode.UNAVAILABLE else None)
        if retry is not None:
            headers["Retry-After"] = retry
        return web.Response(status=HTTP_STATUS.get(code, 500), body=body, content_type=JSON, headers=headers)


def _retry_after(body: bytes) -> str | None:
    """RetryInfo's delay, as a Retry-After header (whole seconds, at least 1)."""
    if b"RetryInfo" not in body:
        return None
    for detail in json.loads(body).get("details", []):
        if detail.get("@type", "").endswith("google.rpc.RetryInfo"):
            delay = str(detail.get("retry_delay", "1s")).rstrip("s")
            return str(max(1, math.ceil(float(delay or 1))))
    return None


async def _relay_refusal(session: aiohttp.ClientSession, url: str, headers: dict) -> bytes | None:
    """A refused WebSocket handshake carries no body for aiohttp's client:
    ask again without the upgrade to read the relay's JSON refusal."""
    try:
        async with session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=10)) as again:
            body = await again.read()
            return body if again.status >= 400 and again.content_type == JSON else None
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return None


class _JsonErrors(web_protocol.RequestHandler):
    """Errors aiohttp raises before any handler runs (a request line over
    8 KB, a malformed header) answered as a JSON google.rpc.Status."""

    def handle_error(self, request, status=500, exc=None, message=None) -> web.StreamResponse:
        if status >= 500:
            log.error("edge: unhandled error", exc_info=exc)
        code = {413: 8}.get(status, 3 if status < 500 else 13)
        if status >= 500:
            text = "internal error"
        elif "more than" in str(message):  # aiohttp's limit on a request line or header
            text = "the request line and each header are at most 8 KB"
        else:
            text = "malformed HTTP request"
        response = web.Response(status=status, body=status_json(code, text), content_type=JSON)
        response.force_close()
        return response


class _JsonErrorServer(web_server.Server):
    def __call__(self) -> web_protocol.RequestHandler:
        return _JsonErrors(self, loop=self._loop, **self._kwargs)


class _JsonErrorRunner(web.AppRunner):
    async def _make_server(self) -> web_server.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # aiohttp offers no other hook for its pre-handler errors
        return server


async def _pipe(source, sink) -> tuple[int, str] | None:
    """Copies messages until `source` closes; its close code and reason, so
    the other side hears why (the relay's refusals name what to do)."""
    while True:
        msg = await source.receive()
        if msg.type == aiohttp.WSMsgType.TEXT:
            await sink.send_str(msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await sink.send_bytes(msg.data)
        elif msg.type == aiohttp.WSMsgType.CLOSE:
            return msg.data, msg.extra or ""
        else:
            return None


def _passed_headers(metadata) -> dict[str, str]:
    return {k: v for k, v in (metadata or ()) if isinstance(v, str) and k.startswith(PASSED_METADATA_PREFIX)}
