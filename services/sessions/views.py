"""Session rows as the documented JSON shapes (protobuf messages)."""
import json

from google.protobuf import json_format, struct_pb2

from cerver.v2 import common_pb2, sessions_pb2 as pb
from servicekit.clock import to_timestamp
from services.sessions import metrics, previews
from services.sessions.store import ENDED, EventRow, SessionRow, TranscriptRow, coarse_state


def dump(message) -> str:
    return json_format.MessageToJson(message, preserving_proto_field_name=True, indent=None)


def load(raw: str, message_class):
    return json_format.Parse(raw or "{}", message_class(), ignore_unknown_fields=True)


def struct(raw: str) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(json.loads(raw or "{}"))
    return out


def entry(row: TranscriptRow) -> pb.TranscriptEntry:
    return pb.TranscriptEntry(seq=row.seq, at=to_timestamp(row.at), role=row.role, kind=row.kind,
                              content=row.content, metadata=struct(row.metadata_json))


def event(row: EventRow) -> pb.SessionEvent:
    return pb.SessionEvent(at=to_timestamp(row.at), type=row.type, detail=row.detail,
                           from_status=row.from_status, to_status=row.to_status)


def session(row: SessionRow, transcript=(), events=(), status: str | None = None) -> pb.Session:
    out = pb.Session(
        session_id=row.session_id, session_name=row.session_name, status=status or row.status,
        state=coarse_state(row), provider=row.provider, harness=row.harness,
        session_type=row.session_type, task=row.task, workload=row.workload, end_reason=row.end_reason,
        created_at=to_timestamp(row.created_at), updated_at=to_timestamp(row.updated_at),
        ended_at=to_timestamp(row.ended_at),
        requirements=load(row.requirements_json, common_pb2.Requirements),
        policy=load(row.policy_json, common_pb2.Policy), repo=load(row.repo_json, common_pb2.Repo),
        metadata=struct(row.metadata_json), metrics=metrics.view(row),
        routing=load(row.routing_json, common_pb2.RoutingDecision),
        transcript=[entry(t) for t in transcript], transcript_count=row.last_seq,
        events=[event(e) for e in events])
    for name in ("compute_id", "sandbox_id", "parent_session_id"):
        if getattr(row, name):
            setattr(out, name, getattr(row, name))
    if previewable(row, out.requirements):
        out.preview_url = previews.url(row.session_id)
    return out


def previewable(row: SessionRow, requirements: common_pb2.Requirements) -> bool:
    """A public preview is served while compute on a node is attached."""
    return requirements.public_preview and bool(row.sandbox_id) and row.provider == "local" \
        and row.status not in (*ENDED, "paused")
