"""UTC time, as stored and as sent over the wire."""
from datetime import datetime, timezone

from google.protobuf.timestamp_pb2 import Timestamp


def now() -> datetime:
    return datetime.now(timezone.utc)


def aware(ts: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return ts.replace(tzinfo=timezone.utc) if ts is not None and ts.tzinfo is None else ts


def to_timestamp(ts: datetime | None) -> Timestamp | None:
    if ts is None:
        return None
    out = Timestamp()
    out.FromDatetime(aware(ts))
    return out


def from_timestamp(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=timezone.utc)
