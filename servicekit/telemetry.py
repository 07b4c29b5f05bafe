"""OpenTelemetry set-up: one tracer provider per process, exporting over OTLP
when OTEL_EXPORTER_OTLP_ENDPOINT is set (gRPC, or http/protobuf as
OTEL_EXPORTER_OTLP_PROTOCOL says; the other OTEL_* variables as the SDK
reads them). Services add their own span processors (e.g. the sessions
service turns spans into session metrics)."""
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Status, StatusCode

from servicekit import config

_provider: TracerProvider | None = None


def setup(service: str) -> TracerProvider:
    """The process's tracer provider, named for its service (first call wins)."""
    global _provider
    if _provider is None:
        configured = TracerProvider().sampler  # OTEL_TRACES_SAMPLER(_ARG), as the SDK reads them
        _provider = TracerProvider(resource=Resource.create({"service.name": f"cerver-{service}"}),
                                   sampler=RecordAlways(configured))
        if config.env("OTEL_EXPORTER_OTLP_ENDPOINT"):
            if config.env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc") == "http/protobuf":
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            else:
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(_provider)
    return _provider


class RecordAlways(Sampler):
    """The configured sampler decides which traces are exported; every span
    is still recorded, so what is measured from spans (a session's
    latencies) never depends on sampling."""

    def __init__(self, inner: Sampler):
        self.inner = inner

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,
                      trace_state=None) -> SamplingResult:
        result = self.inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        if result.decision == Decision.DROP:
            # A sampler's result carries the span's attributes (a dropped one, none).
            return SamplingResult(Decision.RECORD_ONLY, attributes, result.trace_state)
        return result

    def get_description(self) -> str:
        return f"RecordAlways{{{self.inner.get_description()}}}"


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
