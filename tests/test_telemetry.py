"""Traces leave the process over OTLP when an endpoint is configured."""
import asyncio
import contextlib
import os
import sys
import time
import urllib.error
import urllib.request

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from cli.dev import free_port


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self):
        self.requests = []

    async def Export(self, request, context):
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


async def test_spans_export_over_otlp_with_the_service_name():
    receiver = Receiver()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    code = ("from servicekit import telemetry\n"
            "tracer = telemetry.tracer('cerver.sessions')  # taken at import, as services do\n"
            "telemetry.setup('sessions')\n"
            "with tracer.start_as_current_span('session.exec', attributes={'cerver.session_id': 's1'}):\n"
            "    pass\n"
            "telemetry.provider().shutdown()\n")
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_INSECURE": "true"}
    try:
        # Async, so this loop keeps serving the receiver while the child exports.
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, env=env,
                                                    stderr=asyncio.subprocess.PIPE)
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == 0, stderr.decode()
    finally:
        await server.stop(None)
    spans = [(rs, span) for req in receiver.requests for rs in req.resource_spans
             for ss in rs.scope_spans for span in ss.spans]
    assert [s.name for _, s in spans] == ["session.exec"]
    resource, span = spans[0]
    names = {a.key: a.value.string_value for a in resource.resource.attributes}
    assert names["service.name"] == "cerver-sessions"
    assert {a.key: a.value.string_value for a in span.attributes}["cerver.session_id"] == "s1"
    assert span.end_time_unix_nano > span.start_time_unix_nano


async def test_one_run_is_one_trace_across_the_edge_sessions_and_the_node(api):
    """The caller's traceparent is honoured, and W3C trace context travels
    edge → sessions → node in gRPC metadata: every hop's span is in the
    caller's trace, each the child of the one before."""
    from tests.conftest import SPANS

    key = await api.login()
    status, s, text, _ = await api.call("POST", "/v2/sessions", {"requirements": {"runtime": "shell"}}, key=key)
    assert status == 200, text
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    SPANS.clear()
    status, _, text, _ = await api.call("POST", f"/v2/sessions/{s['session_id']}/run", {"code": "echo traced"},
                                       key=key, headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"})
    assert status == 200, text
    await asyncio.sleep(0.2)  # the last spans end as the answer goes out
    spans = [sp for sp in SPANS.get_finished_spans() if f"{sp.context.trace_id:032x}" == trace_id]
    names = {sp.name for sp in spans}
    assert any(n.startswith("POST") for n in names), names  # the edge's
    assert {"/cerver.v2.SessionService/RunCode", "/cerver.v2.NodeService/Call", "session.exec"} <= names, names
    by_id = {sp.context.span_id: sp for sp in spans}
    node = next(sp for sp in spans if sp.name == "/cerver.v2.NodeService/Call" and sp.kind.name == "SERVER")
    chain = []
    while node is not None:  # walk up to the caller's own span
        chain.append(node.name)
        node = by_id.get(node.parent.span_id) if node.parent else None
    assert chain[-1].startswith("POST") and "/cerver.v2.SessionService/RunCode" in chain, chain
    # The sessions service's SQL is in the same trace (SQLAlchemy's instrumentation).
    assert any((sp.attributes or {}).get("db.system") in ("sqlite", "postgresql") for sp in spans), names
    await api.call("DELETE", f"/v2/sessions/{s['session_id']}", key=key)


def test_session_metrics_do_not_depend_on_trace_sampling(tmp_path):
    """With OTEL_TRACES_SAMPLER=always_off no trace is exported, yet every
    span is recorded: a session's run count and latencies are all there, and
    so are the deployment's metrics on each process's Prometheus endpoint."""
    import json as _json
    import re

    from tests.test_dev_stack import start_stack, stop_stack

    port = free_port()
    log = tmp_path / "stack.log"
    stack = start_stack(tmp_path, port, log, OTEL_TRACES_SAMPLER="always_off", OTEL_METRICS_EXPORTER="prometheus")
    try:
        base = f"http://127.0.0.1:{port}"

        def call(method, path, body=None, key=None):
            request = urllib.request.Request(base + path, method=method, data=_json.dumps(body).encode() if body else None,
                                             headers={"Content-Type": "application/json",
                                                      **({"Authorization": f"Bearer {key}"} if key else {})})
            return _json.loads(urllib.request.urlopen(request, timeout=60).read())

        key = call("POST", "/v2/auth/login", {"email": "sampled@example.com"})["api_key"]
        sid = call("POST", "/v2/sessions", {"requirements": {"runtime": "shell"}}, key)["session_id"]
        for _ in range(3):
            call("POST", f"/v2/sessions/{sid}/run", {"code": "echo hi"}, key)
        metrics = call("GET", f"/v2/sessions/{sid}/metrics", key=key)["metrics"]
        assert metrics["total_exec_count"] == 3 and metrics["last_exec_latency_ms"] > 0, metrics
        assert metrics["provision_time_ms"] > 0 and metrics["average_exec_latency_ms"] > 0

        time.sleep(0.5)  # the banner's last lines reach the log
        endpoints = dict(re.findall(r"metrics of (\S+): (\S+)", log.read_text()))
        assert {"auth", "sessions", "router", "compute", "node", "relay", "edge"} <= set(endpoints), endpoints

        def scrape(name):
            return urllib.request.urlopen(endpoints[name], timeout=10).read().decode()

        def value(text, pattern):
            found = [float(v) for v in re.findall(rf"^{pattern}\S* ([0-9.e+]+)$", text, re.M)]
            assert found, f"{pattern} missing from:\n{text[:3000]}"
            return sum(found)

        sessions = scrape("sessions")
        assert value(sessions, r'cerver_runs_total\{[^}]*outcome="ok"') == 3
        assert value(sessions, r"cerver_run_duration_milliseconds_count") == 3
        assert value(sessions, r"cerver_provision_duration_milliseconds_count") == 1
        assert value(sessions, r'rpc_server_duration_milliseconds_count\{[^}]*RunCode') == 3
        assert value(sessions, r'db_client_connections_usage\S*\{[^}]*state="idle"') >= 1  # the database pool
        assert value(scrape("node"), r'cerver_sandboxes\{[^}]*state="running"') == 1
        assert value(scrape("edge"), r"http_server_duration_milliseconds_count") >= 5
        # A failed call is an error, by code (NOT_FOUND: 5).
        with contextlib.suppress(urllib.error.HTTPError):
            call("POST", "/v2/sessions/ses_0123456789abcdef/run", {"code": "true"}, key)
        time.sleep(0.5)  # the server's span ends just after its answer leaves
        assert value(scrape("sessions"), r'cerver_rpc_errors_total\{[^}]*rpc_grpc_status_code="5"') >= 1
    finally:
        stop_stack(stack)


async def test_spans_export_over_otlp_http_protobuf_too():
    from aiohttp import web
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as pb

    received = []

    async def traces(request):
        received.append(pb.ExportTraceServiceRequest.FromString(await request.read()))
        return web.Response(body=pb.ExportTraceServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    code = ("from servicekit import telemetry\n"
            "telemetry.setup('router')\n"
            "with telemetry.tracer('cerver.router').start_as_current_span('route'):\n"
            "    pass\n"
            "telemetry.provider().shutdown()\n")
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
           "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
    try:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, env=env, stderr=asyncio.subprocess.PIPE)
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == 0, stderr.decode()
    finally:
        await runner.cleanup()
    spans = [s for r in received for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert [s.name for s in spans] == ["route"]
    service = {a.key: a.value.string_value for r in received for rs in r.resource_spans for a in rs.resource.attributes}
    assert service["service.name"] == "cerver-router"


async def test_metrics_export_over_otlp():
    """The deployment's metrics go to an OTLP receiver too (the collector's
    MetricsService): runs counted and timed from the spans that measure them."""
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as mpb
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc as mgrpc

    received = []

    class Metrics(mgrpc.MetricsServiceServicer):
        async def Export(self, request, context):
            received.append(request)
            return mpb.ExportMetricsServiceResponse()

    server = grpc.aio.server()
    mgrpc.add_MetricsServiceServicer_to_server(Metrics(), server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    code = ("from servicekit import telemetry\n"
            "from services.sessions import metrics\n"
            "telemetry.setup('sessions')\n"
            "telemetry.add_processor(metrics.SpanMetrics())\n"
            "for _ in range(2):\n"
            "    with telemetry.tracer('t').start_as_current_span(metrics.EXEC, attributes={'cerver.provider': 'local'}):\n"
            "        pass\n"
            "telemetry.shutdown()\n")
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}", "OTEL_EXPORTER_OTLP_INSECURE": "true",
           "OTEL_METRICS_EXPORTER": "otlp"}
    try:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, env=env, stderr=asyncio.subprocess.PIPE)
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode == 0, stderr.decode()
    finally:
        await server.stop(None)
    found = {m.name: m for r in received for rm in r.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    assert sum(p.as_int for p in found["cerver.runs"].sum.data_points) == 2, found.keys()
    assert sum(p.count for p in found["cerver.run.duration"].histogram.data_points) == 2
    resource = {a.key: a.value.string_value for r in received for rm in r.resource_metrics for a in rm.resource.attributes}
    assert resource["service.name"] == "cerver-sessions"
