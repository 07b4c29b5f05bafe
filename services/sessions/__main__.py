"""python -m services.sessions — the sessions service."""
from cerver.v2 import sessions_pb2, sessions_pb2_grpc
from servicekit import config, peers, server, telemetry
from servicekit.db import open_database
from servicekit.quotas import Quotas
from services.sessions.domain import Sessions
from services.sessions.handlers import SessionHandlers
from services.sessions.metrics import SpanMetrics
from services.sessions.store import SessionStore


async def start(address: str) -> server.Host:
    db = await open_database("sessions")
    span_metrics = SpanMetrics()
    telemetry.add_processor(span_metrics)
    sessions = Sessions(SessionStore(db), span_metrics, Quotas.from_env())
    host = server.Host("sessions", peers.remote_authenticator())
    host.add(SessionHandlers(sessions), sessions_pb2_grpc.add_SessionServiceServicer_to_server,
             sessions_pb2.DESCRIPTOR.services_by_name["SessionService"])
    await host.start(address)
    host.on_stop(db.close)
    host.on_stop(sessions.drain_background)
    host.every(config.settings().reap_interval_s, sessions.reap_expired, "timeout sweep")
    host.every(config.settings().reconcile_interval_s, sessions.reconcile, "compute sweep",
               at_once=True)
    return host


if __name__ == "__main__":
    server.serve("sessions", start)
