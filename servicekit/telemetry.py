"""OpenTelemetry set-up: one tracer provider per process, exporting over OTLP
when OTEL_EXPORTER_OTLP_ENDPOINT is set. Services add their own span
processors (e.g. the sessions service turns spans into session metrics)."""
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

from servicekit import config

_provider: TracerProvider | None = None


def setup(service: str) -> TracerProvider:
    """The process's tracer provider, named for its service (first call wins)."""
    global _provider
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": f"cerver-{service}"}))
        if config.env("OTEL_EXPORTER_OTLP_ENDPOINT"):
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(_provider)
    return _provider


def provider() -> TracerProvider:
    return _provider or setup("cerver")


def tracer(name: str) -> trace.Tracer:
    # A proxy: modules take their tracer at import, before serve() names the
    # provider; spans go to the provider once it is set.
    return trace.get_tracer(name)


def trace_http_servers() -> None:
    """aiohttp applications made from now on trace their requests, each in
    its caller's trace (W3C traceparent): OpenTelemetry's instrumentation."""
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor

    instrumentor = AioHttpServerInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider())


def add_processor(processor: SpanProcessor) -> None:
    provider().add_span_processor(processor)


def span_ms(span) -> float:
    """Duration of an ended span in milliseconds."""
    return (span.end_time - span.start_time) / 1e6


def error_status(description: str) -> Status:
    return Status(StatusCode.ERROR, description)
