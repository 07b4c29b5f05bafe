"""gRPC server bootstrap shared by every service: one guard interceptor
(authentication + error mapping), health checking, reflection, and a clean
stop on SIGTERM/SIGINT."""
import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from google.protobuf import message_factory
from grpc_reflection.v1alpha import reflection
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_server_interceptor

from cerver.v2 import options_pb2
from servicekit import auth, config, peers, rules
from servicekit.errors import ServiceError, from_rpc_error

log = logging.getLogger("cerver")

# Methods that need no credentials: logging in, the device flow's start and
# poll (the caller has no key yet), health checks and reflection.
ALWAYS_PUBLIC_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")



def _method_name(full: str) -> str:
    return full.rsplit("/", 1)[-1]


class Guard(grpc.aio.ServerInterceptor):
    """Authenticates each call and maps domain errors to gRPC statuses, once,
    for every handler of the service."""

    def __init__(self, authenticator: auth.Authenticator):
        self._authenticator = authenticator
        # Method names by their contract's access annotation (servicekit.rules).
        self.public: set[str] = set()
        self.internal: set[str] = set()
        # Streams whose event carries an `error` (google.rpc.Status): a
        # failure once they have begun ends them with that event instead.
        self.in_band: dict[str, type] = {}
        self._guarded_handlers: dict[str, tuple] = {}

    def serve(self, service_descriptor) -> None:
        for method in service_descriptor.methods:
            error = method.output_type.fields_by_name.get("error")
            if method.server_streaming and error is not None and error.message_type is not None \
                    and error.message_type.full_name == "google.rpc.Status":
                self.in_band[method.name] = message_factory.GetMessageClass(method.output_type)
            kind = rules.access(method)
            if kind == options_pb2.ACCESS_PUBLIC:
                self.public.add(method.name)
            elif kind == options_pb2.ACCESS_INTERNAL:
                self.internal.add(method.name)

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(ALWAYS_PUBLIC_PREFIXES):
            return handler
        # Wrapped once per method: the server finds the same handler each call.
        cached = self._guarded_handlers.get(method)
        if cached is None or cached[0] is not handler:
            cached = self._guarded_handlers[method] = (handler, self._guard(_method_name(method), handler))
        return cached[1]

    def _guard(self, name: str, handler):
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(name, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(name, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_client_stream(name, handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        return None  # fail closed: a kind of method not guarded here is not served

    async def _principal(self, name: str, context) -> auth.Principal | None:
        if name in self.public:
            return None
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        principal = await self._authenticator.principal(metadata)
        if name in self.internal and not principal.service:
            raise ServiceError(grpc.StatusCode.PERMISSION_DENIED, f"{name} is internal to Cerver")
        return principal

    @contextlib.asynccontextmanager
    async def _guarded(self, name: str, request, context, requests=None):
        token = None
        try:
            token = auth.bind(await self._principal(name, context))
            if request is not None:
                rules.check(request)
            yield
        except Exception as exc:  # noqa: BLE001 - mapped to a status by _abort
            if requests is not None:
                await _drain(requests)
            await _abort(context, name, exc)
        finally:
            if token is not None:
                auth.unbind(token)

    def _wrap_unary(self, name, behavior):
        async def call(request, context):
            async with self._guarded(name, request, context):
                return await behavior(request, context)
        return call

    def _wrap_stream(self, name, behavior):
        event = self.in_band.get(name)

        async def call(request, context):
            async with self._guarded(name, request, context):
                began = False
                try:
                    async for item in behavior(request, context):
                        began = True
                        yield item
                except Exception as exc:  # noqa: BLE001 - mapped to a status, in the stream or by _abort
                    if event is None or not began or isinstance(exc, (asyncio.CancelledError, grpc.aio.AbortError)):
                        raise
                    # Once the stream has begun, its HTTP status is sent: the
                    # failure goes in the stream (over HTTP/1.1 a trailer
                    # would be lost), and the call itself ends OK.
                    yield _error_event(event, name, exc)
        return call

    def _wrap_client_stream(self, name, behavior):
        async def call(request_iterator, context):
            async with self._guarded(name, None, context, request_iterator):
                return await behavior(_checked(request_iterator), context)
        return call


async def _drain(requests) -> None:
    """What a refused client stream's caller still sends, read and dropped
    until it stops sending (for config.REFUSED_UPLOAD_DRAIN_S at most), so
    that the refusal reaches it whole (see that setting)."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(config.REFUSED_UPLOAD_DRAIN_S):
            async for _ in requests:
                pass


async def _checked(requests):
    """A client stream's messages, each held to the contract's rules."""
    async for request in requests:
        rules.check(request)
        yield request


async def _abort(context, name: str, exc: Exception) -> None:
    if isinstance(exc, grpc.aio.AbortError):
        _span_code(context.code())
        raise exc
    if isinstance(exc, grpc.aio.AioRpcError):
        exc = from_rpc_error(exc)
    if isinstance(exc, ServiceError):
        _span_code(exc.code)
        await context.abort_with_status(exc.to_status())
    if isinstance(exc, asyncio.CancelledError):
        raise exc
    log.exception("unhandled error in %s", name)
    _span_code(grpc.StatusCode.INTERNAL)
    await context.abort(grpc.StatusCode.INTERNAL, "internal error")


def _error_event(event: type, name: str, exc: Exception):
    if isinstance(exc, grpc.aio.AioRpcError):
        exc = from_rpc_error(exc)
    if not isinstance(exc, ServiceError):
        log.error("unhandled error in %s", name, exc_info=exc)
        exc = ServiceError(grpc.StatusCode.INTERNAL, "internal error")
    _span_code(exc.code)
    reply = event(type="error", error=exc.to_proto())
    if "data" in reply.DESCRIPTOR.fields_by_name:
        reply.data = exc.message
    return reply


def _span_code(code: grpc.StatusCode | None) -> None:
    """The call's status code on its server span (the gRPC instrumentation
    leaves OK there when an aio handler aborts), for the metrics by code."""
    if code is not None:
        trace.get_current_span().set_attribute("rpc.grpc.status_code", code.value[0])


def _connection_age() -> list[tuple[str, int]]:
    """Clients are asked to reconnect (GOAWAY) after CERVER_GRPC_MAX_CONNECTION_AGE_S,
    so they re-resolve a headless Service and reach replicas added since;
    calls in flight finish first (a transfer may take TRANSFER_TIMEOUT_S)."""
    age = config.settings().grpc_max_connection_age_s
    if not age:
        return []
    return [("grpc.max_connection_age_ms", int(age * 1000)),
            ("grpc.max_connection_age_grace_ms", int(config.TRANSFER_TIMEOUT_S * 1000))]


class Host:
    """One gRPC server with the guard, health and reflection."""

    def __init__(self, name: str, authenticator: auth.Authenticator):
        self.name = name
        self.authenticator = authenticator
        self.guard = Guard(authenticator)
        self.server = grpc.aio.server(
            # Tracing first: a call's span (its caller's trace, from the
            # metadata) holds the guard's work too.
            interceptors=[aio_server_interceptor(), self.guard],
            options=[("grpc.max_receive_message_length", config.MAX_MESSAGE_BYTES),
                     ("grpc.max_send_message_length", config.MAX_REPLY_BYTES),
                     ("grpc.so_reuseport", 0), *_connection_age()])
        self.health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        self.port = 0
        self.handlers: list = []  # the servicers, for in-process tests and tools
        self._names: list[str] = []
        self._cleanups: list[Callable[[], Awaitable[None]]] = []

    def on_stop(self, cleanup: Callable[[], Awaitable[None]]) -> None:
        """Run after the server has stopped, last registered first (so a
        store registered before what uses it closes after it)."""
        self._cleanups.append(cleanup)

    def every(self, period_s: float, work: Callable[[], Awaitable[object]], what: str, at_once: bool = False) -> None:
        """Run `work` every period while the server runs (sweeps, reapers),
        first right away with at_once; a failed round is logged and the next
        one runs as planned."""
        async def loop() -> None:
            first = at_once
            while True:
                if not first:
                    await asyncio.sleep(period_s)
                first = False
                try:
                    await work()
                except Exception:  # noqa: BLE001 - the sweep runs again next period
                    log.exception("%s: %s failed", self.name, what)

        task = asyncio.get_running_loop().create_task(loop())

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

        self.on_stop(stop)

    def add(self, servicer, add_to_server, service_descriptor) -> None:
        """Serve a servicer (add_to_server is the generated add_*_to_server)."""
        add_to_server(servicer, self.server)
        self.guard.serve(service_descriptor)
        self.handlers.append(servicer)
        self._names.append(service_descriptor.full_name)

    def bind(self, address: str) -> int:
        """Take the address now (a process with a slow start holds its port
        from the outset, before anything it starts could take it)."""
        if not self.port:
            self.port = self.server.add_insecure_port(address)
            if not self.port:
                raise RuntimeError(f"{self.name}: cannot listen on {address}")
        return self.port

    async def start(self, address: str) -> int:
        names = self._names
        reflection.enable_server_reflection([*names, reflection.SERVICE_NAME, "grpc.health.v1.Health"], self.server)
        self.bind(address)
        await self.server.start()
        for service in [*names, ""]:
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info("%s serving gRPC on port %d", self.name, self.port)
        return self.port

    async def stop(self, grace: float = 3.0) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        for cleanup in reversed(self._cleanups):
            await cleanup()
        await peers.close_all()


# grpc.aio completes calls on a poller thread and the storage hot path runs on
# worker threads; with CPython's default 5 ms switch interval every such
# hand-off can wait milliseconds for the GIL (measured: /run p50 13 -> 8 ms).
GIL_SWITCH_INTERVAL_S = 0.0002


def configure_process() -> None:
    """Logging, the GIL switch interval, the supervisor's lifetime and a umask
    that keeps what a service writes (databases, keys) from other host users,
    for every Cerver process."""
    os.umask(0o077)
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    _stop_with_supervisor()


PR_SET_PDEATHSIG = 1


def _stop_with_supervisor() -> None:
    """Under `cerver dev` (CERVER_SUPERVISOR_PID), get SIGTERM when it dies,
    even when it is killed outright and cannot stop its children itself."""
    supervisor = config.settings().supervisor_pid
    if not supervisor or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(supervisor):  # it died before the request took hold
        os.kill(os.getpid(), signal.SIGTERM)


async def wait_for_shutdown() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def check_settings(process: str) -> None:
    """A variable its setting cannot take stops the process at start, named."""
    try:
        config.settings()
    except config.SettingsError as exc:
        print(f"cerver-{process}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def serve(service: str, start: Callable[[str], Awaitable[Host]]) -> None:
    """Entry point of `python -m services.<name>`: start the service on its
    configured address and run until SIGTERM/SIGINT."""
    from servicekit import telemetry

    check_settings(service)
    telemetry.setup(service)

    async def main() -> None:
        host = await start(config.listen_addr(service))
        await wait_for_shutdown()
        await host.stop()

    configure_process()
    try:
        asyncio.run(main())
    except config.SettingsError as exc:  # a setting only its service can judge (compute's providers)
        print(f"cerver-{service}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
