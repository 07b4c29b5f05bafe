"""Sessions' tables and the queries that need care: appends take their
sequence numbers from an atomic counter on the session row, so concurrent
appends never lose or duplicate an entry, and the newest N entries are read
through the (session_id, seq) index in O(N)."""
import asyncio
import functools
import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import (Float, Index, Integer, UniqueConstraint, and_, bindparam, case, delete, func, or_, text,
                        update)
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, select

from servicekit.clock import now
from servicekit.db import Database, UTCDateTime, insert_rows, insert_statement, utc_field


class SessionRow(SQLModel, table=True):
    __tablename__ = "sessions_session"
    __table_args__ = (Index("ix_sessions_account_created", "account_id", "created_at", "session_id"),)

    session_id: str = Field(primary_key=True)
    account_id: str = Field(index=True)
    session_name: str = ""
    session_type: str = "compute"  # compute | transcript
    harness: str = ""
    task: str = ""
    workload: str = ""
    status: str = "provisioning"
    end_reason: str = ""
    provider: str = "none"
    compute_id: str | None = None
    sandbox_id: str | None = None
    workspace_id: str | None = None
    parent_session_id: str | None = None
    requirements_json: str = "{}"
    policy_json: str = "{}"
    repo_json: str = "{}"
    metadata_json: str = "{}"
    routing_json: str = "{}"
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()
    ended_at: datetime | None = utc_field(default=None)
    expires_at: datetime | None = utc_field(default=None)
    last_seq: int = 0

    # Metric accumulators, fed from spans.
    provision_ms: float | None = None
    first_exec_at: datetime | None = utc_field(default=None)
    last_exec_ms: float | None = None
    exec_count: int = 0
    exec_total_ms: float = 0.0
    stream_count: int = 0
    stream_open_total_ms: float = 0.0
    interaction_count: int = 0
    predicted_startup_ms: float = 0.0
    uptime_percent: float = 0.0
    price_per_second: float = 0.0
    price_per_session: float = 0.0
    compute_seconds: float = 0.0
    compute_attached_at: datetime | None = utc_field(default=None)
    llm_turns: int = 0
    llm_input_tokens: int = 0
    llm_output_tokens: int = 0
    llm_cost_usd: float = 0.0
    llm_total_ms: float = 0.0
    last_llm_ms: float | None = None


class TranscriptRow(SQLModel, table=True):
    __tablename__ = "sessions_transcript"
    # Search on PostgreSQL (SQLite's FTS5 table lives beside: migration 0003).
    __table_args__ = (UniqueConstraint("session_id", "seq", name="uq_transcript_session_seq"),
                      Index("ix_sessions_transcript_search", text("to_tsvector('simple', content)"),
                            postgresql_using="gin").ddl_if(dialect="postgresql"))

    id: int | None = Field(default=None, primary_key=True)
    session_id: str
    seq: int
    at: datetime = utc_field()
    role: str
    kind: str
    content: str
    metadata_json: str = "{}"


class EventRow(SQLModel, table=True):
    __tablename__ = "sessions_event"

    id: int | None = Field(default=None, primary_key=True)
    session_id: str = Field(index=True)
    at: datetime = utc_field()
    type: str
    detail: str = ""
    from_status: str = ""
    to_status: str = ""


class IdempotencyRow(SQLModel, table=True):
    """An append made with an Idempotency-Key: what it appended, so that a
    retry returns that instead of appending again. Kept for a day."""
    __tablename__ = "sessions_idempotency"
    session_id: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    body_hash: str
    seqs_json: str
    created_at: datetime = utc_field()


TABLES = (SessionRow, TranscriptRow, EventRow, IdempotencyRow)

ENDED = ("terminated", "failed")
# The coarse state (spec/004) as a condition on the fine status.
STATE_FILTERS = {
    "ended": col(SessionRow.status).in_(ENDED),
    "idle": and_(col(SessionRow.status).not_in(ENDED),
                 or_(SessionRow.status == "paused", SessionRow.session_type == "transcript")),
    "running": and_(col(SessionRow.status).not_in([*ENDED, "paused"]), SessionRow.session_type == "compute"),
}


def coarse_state(row: SessionRow) -> str:
    if row.status in ENDED:
        return "ended"
    if row.status == "paused" or row.session_type == "transcript":
        return "idle"
    return "running"


EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MICROSECOND = timedelta(microseconds=1)


def encode_cursor(row: SessionRow) -> str:
    """A keyset position: created_at in microseconds, then the session id
    (sessions.proto ListSessionsRequest.cursor states the form)."""
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=timezone.utc)
    return f"{(created - EPOCH) // MICROSECOND}_{row.session_id}"


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    micros, sid = cursor.split("_", 1)
    return EPOCH + int(micros) * MICROSECOND, sid


def span_params(spans: list[tuple[str, float, datetime]]) -> dict:
    """Measured spans as the parameters of the metric accumulators' updates
    (see `_accumulators`)."""
    execs = [ms for name, ms, _ in spans if name == "session.exec"]
    streams = [ms for name, ms, _ in spans if name == "session.stream_open"]
    provisions = [ms for name, ms, _ in spans if name == "session.provision"]
    firsts = [at for name, _, at in spans if name != "session.provision"]
    params = {}
    if execs:
        params.update(p_exec_n=len(execs), p_exec_ms=sum(execs), p_last_exec_ms=execs[-1])
    if streams:
        params.update(p_stream_n=len(streams), p_stream_ms=sum(streams))
    if provisions:
        params["p_provision_ms"] = provisions[0]
    if firsts:
        params["p_first_exec_at"] = min(firsts)
    return params


_c = SessionRow.__table__.c


def _accumulators(params: frozenset[str]) -> dict:
    """SET clauses for the given span parameters: atomic `col = col + delta`
    updates, so concurrent runs lose nothing."""
    values = {}
    if "p_exec_n" in params:
        values.update(exec_count=_c.exec_count + bindparam("p_exec_n", type_=Integer),
                      exec_total_ms=_c.exec_total_ms + bindparam("p_exec_ms", type_=Float),
                      last_exec_ms=bindparam("p_last_exec_ms", type_=Float))
    if "p_stream_n" in params:
        values.update(stream_count=_c.stream_count + bindparam("p_stream_n", type_=Integer),
                      stream_open_total_ms=_c.stream_open_total_ms + bindparam("p_stream_ms", type_=Float))
    if "p_provision_ms" in params:
        values["provision_ms"] = func.coalesce(_c.provision_ms, bindparam("p_provision_ms", type_=Float))
    if "p_first_exec_at" in params:
        values["first_exec_at"] = func.coalesce(_c.first_exec_at,
                                                bindparam("p_first_exec_at", type_=_c.first_exec_at.type))
    if "p_llm_in" in params:  # a model turn
        values.update(llm_turns=_c.llm_turns + 1,
                      llm_input_tokens=_c.llm_input_tokens + bindparam("p_llm_in", type_=Integer),
                      llm_output_tokens=_c.llm_output_tokens + bindparam("p_llm_out", type_=Integer),
                      llm_cost_usd=_c.llm_cost_usd + bindparam("p_llm_cost", type_=Float),
                      llm_total_ms=_c.llm_total_ms + bindparam("p_llm_ms", type_=Float),
                      last_llm_ms=bindparam("p_llm_ms", type_=Float))
    return values


# Statements on every run's path are built once per shape and reused with
# new parameters: building and cache-keying a fresh statement cost more than
# SQLite executing it.
@functools.cache
def _append_statement(params: frozenset[str], settle: bool):
    values = dict(last_seq=_c.last_seq + bindparam("p_entries", type_=Integer),
                  interaction_count=_c.interaction_count + bindparam("p_interactions", type_=Integer),
                  updated_at=bindparam("p_updated_at", type_=_c.updated_at.type), **_accumulators(params))
    if settle:
        # A run finished: ready/running become idle; a concurrent pause stays.
        # (Two comparisons rather than IN: an IN list is re-expanded on every execution.)
        values["status"] = case((or_(_c.status == "ready", _c.status == "running"), "idle"), else_=_c.status)
    return (update(SessionRow.__table__)
            .where(_c.session_id == bindparam("p_session_id"), _c.account_id == bindparam("p_account_id"))
            .values(**values).returning(*_c))


_SEARCH_COLUMNS = "t.id, t.session_id, s.session_name, s.status, t.seq, t.at, t.role, t.kind"
_SEARCH_SQLITE = text(f"""
    SELECT {_SEARCH_COLUMNS}, snippet(sessions_transcript_fts, 0, '**', '**', '…', 24) AS snippet
    FROM sessions_transcript_fts f
    JOIN sessions_transcript t ON t.id = f.rowid
    JOIN sessions_session s ON s.session_id = t.session_id
    WHERE sessions_transcript_fts MATCH :query AND s.account_id = :account_id AND t.id < :before
    ORDER BY t.id DESC LIMIT :limit""").columns(at=UTCDateTime)
# ts_headline reads the whole text: it is given the first 64 KiB of an entry.
_SEARCH_POSTGRES = text(f"""
    SELECT {_SEARCH_COLUMNS},
           ts_headline('simple', left(t.content, 65536), q,
                       'StartSel=**, StopSel=**, MaxWords=30, MinWords=10, MaxFragments=2, FragmentDelimiter=" … "')
           AS snippet
    FROM sessions_transcript t
    JOIN sessions_session s ON s.session_id = t.session_id,
         plainto_tsquery('simple', :query) q
    WHERE to_tsvector('simple', t.content) @@ q AND s.account_id = :account_id AND t.id < :before
    ORDER BY t.id DESC LIMIT :limit""").columns(at=UTCDateTime)

_GET = SessionRow.__table__.select().where(_c.session_id == bindparam("p_session_id"),
                                           _c.account_id == bindparam("p_account_id"))


class IdempotencyConflict(Exception):
    """The key was used before for a different body."""


def _seen(conn, session_id: str, key: str, body_hash: str) -> list[int] | None:
    row = conn.execute(select(IdempotencyRow).where(IdempotencyRow.session_id == session_id,
                                                    IdempotencyRow.key == key)).mappings().first()
    if row is None:
        return None
    if row["body_hash"] != body_hash:
        raise IdempotencyConflict(key)
    return json.loads(row["seqs_json"])


class Changes:
    """Wakes this process's watchers of a session after a write to it
    commits (watchers of writes made by another replica look again every
    little while)."""

    def __init__(self):
        self._waiting: dict[str, asyncio.Event] = {}

    def notify(self, session_id: str) -> None:
        waiting = self._waiting.pop(session_id, None)
        if waiting is not None:
            waiting.set()

    async def wait(self, session_id: str, timeout: float) -> None:
        waiting = self._waiting.setdefault(session_id, asyncio.Event())
        try:
            await asyncio.wait_for(waiting.wait(), timeout)
        except asyncio.TimeoutError:
            if self._waiting.get(session_id) is waiting and not waiting.is_set():
                self._waiting.pop(session_id, None)


class SessionStore:
    def __init__(self, db: Database):
        self.db = db
        self.changes = Changes()

    async def insert(self, row: SessionRow, events: list[EventRow]) -> None:
        await self.db.add(row, *events)
        self.changes.notify(row.session_id)

    async def get(self, account_id: str, session_id: str) -> SessionRow | None:
        # Core, not the ORM: this read is on every run's path.
        found = await self.db.run(lambda conn: conn.execute(
            _GET, dict(p_session_id=session_id, p_account_id=account_id)).mappings().first())
        return SessionRow.model_construct(**found) if found is not None else None

    async def find(self, session_id: str) -> SessionRow | None:
        """A session by id alone, whatever its account: only for grants that
        name the session themselves (a preview's signed host name)."""
        async with self.db.session() as s:
            return await s.get(SessionRow, session_id)

    async def update(self, account_id: str, session_id: str, event: EventRow | None = None,
                     spans: list[tuple[str, float, datetime]] = (), **values) -> SessionRow | None:
        """Set columns, record an event and fold measured spans into the
        metric accumulators, in one transaction."""
        values["updated_at"] = now()
        params = span_params(spans)
        statement = (update(SessionRow).where(SessionRow.session_id == session_id, SessionRow.account_id == account_id)
                     .values(**values, **_accumulators(frozenset(params))).returning(*SessionRow.__table__.c))

        def work(conn):
            found = conn.execute(statement, params).mappings().first()
            if found is not None and event is not None:
                insert_rows(conn, event)
            return found

        found = await self.db.run(work)
        self.changes.notify(session_id)
        return SessionRow.model_construct(**found) if found is not None else None

    async def append(self, account_id: str, session_id: str, entries: list[dict], interactions: int,
                     settle: bool = False, spans: list[tuple[str, float, datetime]] = (),
                     idempotency: tuple[str, str] | None = None,
                     model_turn: tuple[int, int, float, float] | None = None) -> tuple[list[int], SessionRow] | None:
        """Append entries with consecutive sequence numbers, in the same
        transaction as the spans' metrics; returns the seqs and the updated
        session. None if the session is not the account's. `settle` moves a
        ready/running session to idle (a run finished) without overwriting a
        concurrent pause. With idempotency (key, body hash), an append made
        before with that key returns its seqs instead of appending again.
        model_turn (input tokens, output tokens, cost, ms) counts a run-llm turn."""
        n = len(entries)
        params = span_params(spans)
        if model_turn is not None:
            params.update(p_llm_in=model_turn[0], p_llm_out=model_turn[1], p_llm_cost=model_turn[2],
                          p_llm_ms=model_turn[3])
        statement = _append_statement(frozenset(params), settle)
        params.update(p_entries=n, p_interactions=interactions, p_updated_at=now(),
                      p_session_id=session_id, p_account_id=account_id)

        def work(conn):
            if idempotency is not None and (seen := _seen(conn, session_id, *idempotency)) is not None:
                found = conn.execute(select(SessionRow).where(SessionRow.session_id == session_id,
                                                              SessionRow.account_id == account_id)).mappings().first()
                return found, seen
            found = conn.execute(statement, params).mappings().first()
            if found is None:
                return None, []
            seqs = list(range(found["last_seq"] - n + 1, found["last_seq"] + 1))
            conn.execute(insert_statement(TranscriptRow), [dict(session_id=session_id, seq=seq, **entry)
                                                           for seq, entry in zip(seqs, entries)])
            if idempotency is not None:
                # Two retries racing: the second insert fails and rolls its
                # append back; run again, it finds the first one's seqs.
                conn.execute(insert_statement(IdempotencyRow), dict(
                    session_id=session_id, key=idempotency[0], body_hash=idempotency[1],
                    seqs_json=json.dumps(seqs), created_at=now()))
            return found, seqs

        try:
            found, seqs = await self.db.run(work)
        except IntegrityError:
            if idempotency is None:
                raise
            found, seqs = await self.db.run(work)
        if found is None:
            return None
        self.changes.notify(session_id)
        return seqs, SessionRow.model_construct(**found)

    async def forget_idempotency(self, before: datetime) -> None:
        async with self.db.session() as s:
            await s.exec(delete(IdempotencyRow).where(IdempotencyRow.created_at < before))

    async def transcript(self, session_id: str, *, tail: int | None = None, since: int | None = None,
                         limit: int | None = None) -> list[TranscriptRow]:
        q = select(TranscriptRow).where(TranscriptRow.session_id == session_id)
        async with self.db.session() as s:
            if since is not None:
                q = q.where(TranscriptRow.seq > since).order_by(col(TranscriptRow.seq))
                if limit:
                    q = q.limit(limit)
                return list((await s.exec(q)).all())
            if tail is not None:
                rows = (await s.exec(q.order_by(col(TranscriptRow.seq).desc()).limit(tail))).all()
                return list(reversed(rows))
            return list((await s.exec(q.order_by(col(TranscriptRow.seq)))).all())

    async def events(self, session_id: str, limit: int = 100, after: int | None = None) -> list[EventRow]:
        """The newest events (at most limit), oldest first; with after, those
        recorded after the event of that id."""
        q = select(EventRow).where(EventRow.session_id == session_id)
        async with self.db.session() as s:
            if after is not None:
                return list((await s.exec(q.where(EventRow.id > after).order_by(col(EventRow.id)).limit(limit))).all())
            rows = await s.exec(q.order_by(col(EventRow.id).desc()).limit(limit))
            return list(reversed(rows.all()))

    async def page(self, account_id: str, limit: int, cursor: tuple[datetime, str] | None,
                   status: str = "", state: str = "", name: str = "", compute_id: str = "") -> list[SessionRow]:
        q = select(SessionRow).where(SessionRow.account_id == account_id)
        if compute_id:
            q = q.where(SessionRow.compute_id == compute_id)
        if status:
            q = q.where(SessionRow.status == status)
        if state:
            q = q.where(STATE_FILTERS[state])
        if name:
            q = q.where(SessionRow.session_name == name)
        if cursor is not None:
            created, sid = cursor
            q = q.where(or_(SessionRow.created_at < created,
                            and_(SessionRow.created_at == created, SessionRow.session_id < sid)))
        q = q.order_by(col(SessionRow.created_at).desc(), col(SessionRow.session_id).desc()).limit(limit)
        async with self.db.session() as s:
            return list((await s.exec(q)).all())

    async def search(self, account_id: str, words: list[str], limit: int, before: int | None) -> list[dict]:
        """Transcript entries of the account's sessions holding every word,
        newest first (append order), from before an entry id (a page's
        cursor): each with its session and a snippet, matches in **."""
        params = dict(account_id=account_id, limit=limit, before=before if before is not None else 2 ** 62)
        if self.db.is_sqlite:
            # Each word quoted: FTS5's own syntax (NEAR, *, column filters) stays out of reach.
            params["query"] = " ".join('"' + w.replace('"', '""') + '"' for w in words)
            sql = _SEARCH_SQLITE
        else:
            params["query"] = " ".join(words)
            sql = _SEARCH_POSTGRES
        return await self.db.run(lambda conn: [dict(r) for r in conn.execute(sql, params).mappings().all()])

    async def with_compute(self, account_id: str) -> int:
        """Sessions of an account that hold a sandbox."""
        q = select(func.count()).select_from(SessionRow).where(
            SessionRow.account_id == account_id, col(SessionRow.sandbox_id).is_not(None),
            col(SessionRow.status).not_in(ENDED))
        # Core on a worker thread: an ORM session would take SQLite's write lock to read.
        return await self.db.run(lambda conn: conn.execute(q).scalar_one())

    async def attached(self, after: str = "", limit: int = 500) -> list[SessionRow]:
        """Sessions holding a sandbox, in id order from `after` (a sweep's page)."""
        q = (select(SessionRow)
             .where(col(SessionRow.sandbox_id).is_not(None), col(SessionRow.status).not_in(ENDED),
                    SessionRow.session_id > after)
             .order_by(col(SessionRow.session_id)).limit(limit))
        async with self.db.session() as s:
            return list((await s.exec(q)).all())

    async def expired(self, at: datetime, limit: int = 100) -> list[SessionRow]:
        q = (select(SessionRow)
             .where(col(SessionRow.expires_at).is_not(None), col(SessionRow.expires_at) < at,
                    col(SessionRow.status).not_in(ENDED))
             .limit(limit))
        async with self.db.session() as s:
            return list((await s.exec(q)).all())
