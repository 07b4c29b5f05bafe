"""Session metrics. Latencies come from OpenTelemetry spans: SpanMetrics is a
span processor that keeps each finished provision/exec/stream-open span's
duration until the domain applies it to the session's accumulators, and
records the deployment's own metrics (OpenTelemetry instruments, exported
as servicekit.telemetry says) from the same spans."""
import collections
import threading
from datetime import datetime, timedelta, timezone

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from cerver.v2 import sessions_pb2 as pb
from servicekit.clock import now
from servicekit import telemetry
from servicekit.telemetry import span_ms

SESSION_ATTR = "cerver.session_id"
PROVISION, EXEC, STREAM_OPEN = "session.provision", "session.exec", "session.stream_open"
LLM = "session.llm"  # a model turn (run-llm)
IDLE_AFTER = timedelta(minutes=15)


_meter = telemetry.meter("cerver.sessions")
RUNS = _meter.create_counter("cerver.runs", description="Runs (JSON and streamed), by provider and outcome")
DURATIONS = {EXEC: _meter.create_histogram("cerver.run.duration", unit="ms", description="A JSON run, end to end"),
             PROVISION: _meter.create_histogram("cerver.provision.duration", unit="ms",
                                                description="Getting a session its compute"),
             STREAM_OPEN: _meter.create_histogram("cerver.stream_open.duration", unit="ms",
                                                  description="A streamed run, to its first event"),
             LLM: _meter.create_histogram("cerver.llm.duration", unit="ms", description="A model turn")}
ACTIVE_RUNS = _meter.create_up_down_counter("cerver.runs.active", description="Runs in flight on this replica")
LLM_TOKENS = _meter.create_counter("cerver.llm.tokens", description="Model tokens, by direction")


class SpanMetrics(SpanProcessor):
    def __init__(self):
        self._pending: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        self._measure(span)
        if span.name not in (PROVISION, EXEC, STREAM_OPEN) or not span.status.is_ok:
            return
        session_id = (span.attributes or {}).get(SESSION_ATTR)
        if session_id:
            with self._lock:
                started = datetime.fromtimestamp(span.start_time / 1e9, timezone.utc)
                self._pending[session_id].append((span.name, span_ms(span), started))

    @staticmethod
    def _measure(span: ReadableSpan) -> None:
        histogram = DURATIONS.get(span.name)
        if histogram is None:
            return
        attrs = span.attributes or {}
        outcome = {"outcome": "ok" if span.status.is_ok else "error"}
        labels = {"cerver.provider": attrs.get("cerver.provider", ""), **outcome}
        if span.name == LLM:
            labels = {"gen_ai.request.model": attrs.get("gen_ai.request.model", ""), **outcome}
            for direction in ("input", "output"):
                LLM_TOKENS.add(int(attrs.get(f"gen_ai.usage.{direction}_tokens", 0)),
                               {"gen_ai.token.type": direction, "gen_ai.request.model": labels["gen_ai.request.model"]})
        histogram.record(span_ms(span), labels)
        if span.name in (EXEC, STREAM_OPEN):
            RUNS.add(1, labels)

    def drain(self, session_id: str) -> list[tuple[str, float, datetime]]:
        with self._lock:
            pending = self._pending.pop(session_id, None)
        return list(pending or ())

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def engagement(exec_count: int, interactions: int, length_ms: float) -> float:
    score = (0.35 * min(1.0, exec_count / 20) + 0.35 * min(1.0, interactions / 20)
             + 0.30 * min(1.0, length_ms / (30 * 60 * 1000)))
    return round(score, 3)


def engagement_label(score: float, row) -> str:
    if row.status in ("paused", "terminated", "failed") or now() - row.updated_at > IDLE_AFTER:
        return "idle"
    if score < 0.25:
        return "warming"
    return "engaged" if score < 0.6 else "deep"


def compute_seconds(row) -> float:
    attached = (now() - row.compute_attached_at).total_seconds() if row.compute_attached_at else 0.0
    return row.compute_seconds + attached


def view(row) -> pb.SessionMetrics:
    length_ms = ((row.ended_at or now()) - row.created_at).total_seconds() * 1000
    score = engagement(row.exec_count, row.interaction_count, length_ms)
    cost = (row.price_per_session if row.session_type == "compute" else 0.0) + \
        row.price_per_second * compute_seconds(row) + row.llm_cost_usd
    m = pb.SessionMetrics(
        total_exec_count=row.exec_count, total_stream_count=row.stream_count,
        interaction_count=row.interaction_count, session_length_ms=round(length_ms, 1),
        cost_estimate_usd=round(cost, 6), uptime_percent=row.uptime_percent,
        predicted_startup_ms=row.predicted_startup_ms, engagement_score=score,
        engagement_label=engagement_label(score, row), llm_turn_count=row.llm_turns,
        llm_input_tokens=row.llm_input_tokens, llm_output_tokens=row.llm_output_tokens,
        llm_cost_usd=round(row.llm_cost_usd, 6))
    if row.provision_ms is not None:
        m.provision_time_ms = round(row.provision_ms, 2)
    if row.first_exec_at is not None:
        m.time_to_first_exec_ms = round((row.first_exec_at - row.created_at).total_seconds() * 1000, 2)
    if row.last_exec_ms is not None:
        m.last_exec_latency_ms = round(row.last_exec_ms, 2)
    if row.exec_count:
        m.average_exec_latency_ms = round(row.exec_total_ms / row.exec_count, 2)
    if row.stream_count:
        m.average_stream_open_latency_ms = round(row.stream_open_total_ms / row.stream_count, 2)
    if row.last_llm_ms is not None:
        m.last_llm_latency_ms = round(row.last_llm_ms, 2)
    if row.llm_turns:
        m.average_llm_latency_ms = round(row.llm_total_ms / row.llm_turns, 2)
    return m
