"""OpenTelemetry set-up: one tracer provider and one meter provider per
process. Traces export over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set
(gRPC, or http/protobuf as OTEL_EXPORTER_OTLP_PROTOCOL says; the other
OTEL_* variables as the SDK reads them). Metrics go where
OTEL_METRICS_EXPORTER says (otlp, prometheus, none; comma-separated; unset:
otlp when an endpoint is set): `prometheus` serves a scrape endpoint on
OTEL_EXPORTER_PROMETHEUS_HOST:OTEL_EXPORTER_PROMETHEUS_PORT (localhost:9464).

Latencies and error counts are measured from spans (SpanMeter), so a metric
and a trace of the same call never disagree. Services add their own span
processors (e.g. the sessions service turns spans into session metrics)."""
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Status, StatusCode

from servicekit import config

_provider: TracerProvider | None = None


def setup(service: str) -> TracerProvider:
    """The process's tracer and meter providers, named for its service (first call wins)."""
    global _provider
    if _provider is None:
        resource = Resource.create({"service.name": f"cerver-{service}"})
        configured = TracerProvider().sampler  # OTEL_TRACES_SAMPLER(_ARG), as the SDK reads them
        _provider = TracerProvider(resource=resource, sampler=RecordAlways(configured))
        readers = _metric_readers()
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
        # What only an exporter reads costs nothing where none is set (it
        # cost the 64x20 bench a fifth of its runs/s): the gRPC calls' metrics
        # and the SQL statements' spans and pool metrics.
        if readers:
            _provider.add_span_processor(SpanMeter())
        current = config.settings()
        if readers or current.otel_exporter_otlp_endpoint:
            _trace_sql()
        if current.otel_exporter_otlp_endpoint:
            if current.otel_exporter_otlp_protocol == "http/protobuf":
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            else:
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(_provider)
    return _provider


def _metric_readers() -> list:
    current = config.settings()
    exporters = current.otel_metrics_exporter or ("otlp" if current.otel_exporter_otlp_endpoint else "none")
    readers = []
    for name in {e.strip() for e in exporters.split(",")} - {"", "none"}:
        if name == "otlp":
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            if config.settings().otel_exporter_otlp_protocol == "http/protobuf":
                from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
            else:
                from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))  # OTEL_METRIC_EXPORT_INTERVAL
        elif name == "prometheus":
            import prometheus_client
            from opentelemetry.exporter.prometheus import PrometheusMetricReader

            readers.append(PrometheusMetricReader())
            prometheus_client.start_http_server(current.otel_exporter_prometheus_port, current.otel_exporter_prometheus_host)
        else:
            raise SystemExit(f"OTEL_METRICS_EXPORTER: {name!r} is not one of otlp, prometheus, none")
    return readers


def meter(name: str) -> metrics.Meter:
    # A proxy too, like tracer(): instruments made at import record once set.
    return metrics.get_meter(name)


class SpanMeter(SpanProcessor):
    """Every served gRPC call (SERVER spans of the gRPC instrumentation) as
    metrics: its duration by method and status code, and failed calls
    counted; names after OpenTelemetry's semantic conventions. (The edge's
    HTTP requests get theirs from the aiohttp instrumentation itself:
    http.server.duration, http.server.active_requests.)"""

    def __init__(self):
        m = meter("cerver.servicekit")
        self.duration = m.create_histogram("rpc.server.duration", unit="ms", description="Duration of served gRPC calls")
        self.errors = m.create_counter("cerver.rpc.errors", description="Served gRPC calls that failed")

    def on_end(self, span) -> None:
        attrs = span.attributes or {}
        if span.kind != trace.SpanKind.SERVER or attrs.get("rpc.system") != "grpc":
            return
        code = attrs.get("rpc.grpc.status_code", 0)
        labels = {"rpc.method": span.name, "rpc.grpc.status_code": code}
        self.duration.record(span_ms(span), labels)
        if code != 0:
            self.errors.add(1, labels)

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def shutdown() -> None:
    """Export what is left (a process ending)."""
    provider().shutdown()
    meters = metrics.get_meter_provider()
    if isinstance(meters, MeterProvider):
        meters.shutdown()


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
    """A consumer of this process's spans (e.g. session metrics)."""
    provider().add_span_processor(processor)


def export_spans(processor: SpanProcessor) -> None:
    """An exporter of every span, SQL statements' included (tests use one)."""
    add_processor(processor)
    _trace_sql()


def _trace_sql() -> None:
    """Every engine made from now on: a span per statement, and its pool's
    connections in use (db.client.connections.usage). Its package says
    SQLAlchemy < 2.1 but hooks only engine events, which 2.1 keeps
    (tests/test_telemetry.py sees both the spans and the pool metric)."""
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    instrumentor = SQLAlchemyInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider(), skip_dep_check=True)


def span_ms(span) -> float:
    """Duration of an ended span in milliseconds."""
    return (span.end_time - span.start_time) / 1e6


def error_status(description: str) -> Status:
    return Status(StatusCode.ERROR, description)
