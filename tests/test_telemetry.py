"""Traces leave the process over OTLP when an endpoint is configured."""
import asyncio
import os
import sys

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
