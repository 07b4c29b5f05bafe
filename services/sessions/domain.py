"""The session lifecycle: create (routed through the router, provisioned
through the compute service), transcript appends and reads, runs and
streams, pause/resume/spawn/swap/terminate, and automatic timeouts."""
import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import cachetools
import grpc
from google.protobuf import json_format, struct_pb2

from cerver.v2 import common_pb2, compute_pb2, compute_pb2_grpc, router_pb2, router_pb2_grpc
from cerver.v2 import sessions_pb2 as pb
from servicekit import auth, config, errors, peers, telemetry
from servicekit import limits as sandbox_limits
from servicekit.clock import from_timestamp, now
from servicekit.quotas import Quotas
from services.compute.adapters.base import DirectoryUnavailable, RunEvent, SandboxGone, SandboxRefused
from services.node import client as node_client
from services.sessions import llm, metrics, previews
from services.sessions.store import (ENDED, EventRow, IdempotencyConflict, SessionRow, SessionStore, decode_cursor,
                                     encode_cursor)
from services.sessions.views import dump, load, previewable

log = logging.getLogger("cerver.sessions")
tracer = telemetry.tracer("cerver.sessions")

IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
IDEMPOTENCY_TTL = timedelta(days=1)
DEFAULT_TIMEOUT_MINUTES = 20  # of compute-attached time; pausing stops the clock
DEFAULT_TAIL = 50
SEARCH_WORD = re.compile(r"\w+")  # what a search matches on: words, in either engine
MAX_SEARCH_WORDS = 32
MAX_ENTRIES = 1000  # per read or per batch append
MAX_CONTENT_CHARS = 1_000_000
MAX_LIST = 200
WATCH_PAGE = 100  # entries per change of a watch
WATCH_LOOK_S = 1.0  # how often a watch looks for writes another replica made
WATCH_HEARTBEAT_S = 15.0  # a change at least this often (proxies keep the stream; a gone caller shows)


@dataclasses.dataclass(frozen=True)
class Target:
    """Where the caller asked the work to run: a provider, a registered
    compute, nothing (transcript-only), or unset (the router decides)."""
    provider: str = ""
    compute_id: str = ""
    none: bool = False


def _named_compute(req) -> struct_pb2.Value | None:
    """The compute a resume or spawn names. Null is none named, as for any
    proto3 JSON field; only create gives it a meaning (no compute)."""
    named = req.HasField("compute") and req.compute.WhichOneof("kind") != "null_value"
    return req.compute if named else None


def parse_target(value: struct_pb2.Value | None, target_compute_id: str = "") -> Target | None:
    if target_compute_id:
        return Target(compute_id=target_compute_id)
    if value is None:
        return None
    kind = value.WhichOneof("kind")
    if kind == "null_value":
        return Target(none=True)
    if kind == "string_value" and value.string_value:
        return Target(provider=value.string_value)
    # Its shape is the contract's (value_message ComputeTarget, checked by the guard).
    fields = value.struct_value.fields
    return Target(provider=fields["provider"].string_value if "provider" in fields else "",
                  compute_id=fields["compute_id"].string_value if "compute_id" in fields else "")


# Provisioning failures another provider may not have: the provider is down,
# slow, full, or refused this account's credentials.
FAILOVER_CODES = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.FAILED_PRECONDITION,
                  grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)


def event(session_id: str, type_: str, detail: str = "", from_status: str = "", to_status: str = "") -> EventRow:
    return EventRow(session_id=session_id, at=now(), type=type_, detail=detail,
                    from_status=from_status, to_status=to_status)


def _credentials(account_id: str):
    """The caller's credentials for peers, or the service token acting for
    the account when there is no caller (timeouts)."""
    try:
        return auth.current().outgoing_metadata()
    except errors.ServiceError:
        return auth.service_metadata(account_id)


class Sessions:
    def __init__(self, store: SessionStore, span_metrics: metrics.SpanMetrics, quotas: Quotas | None = None,
                 paused_retention_s: float | None = None):
        self.store = store
        self.span_metrics = span_metrics
        self.quotas = quotas or Quotas()
        self.paused_retention = timedelta(seconds=paused_retention_s or config.settings().paused_retention_s)
        self.in_flight: collections.Counter[str] = collections.Counter()
        self._account_runs: collections.Counter[str] = collections.Counter()  # runs in flight per account
        self._watches: collections.Counter[str] = collections.Counter()  # watches open per account
        self.nodes = node_client.AskCompute()
        self.sandboxes = node_client.clients(self.nodes)  # the data path: straight to the node
        self._background: set[asyncio.Task] = set()
        # Rows of sessions with compute attached, as this process last read
        # them, so a run skips the database read. The compute service is the
        # authority: a run whose cached sandbox is gone (another replica
        # paused, swapped or ended the session) reads afresh and retries.
        self._attached: cachetools.LRUCache = cachetools.LRUCache(maxsize=10_000)

    @property
    def router(self):
        return peers.stub("router", router_pb2_grpc.RouterServiceStub)

    @property
    def compute(self):
        return peers.stub("compute", compute_pb2_grpc.ComputeServiceStub)

    def live_status(self, row: SessionRow) -> str:
        return "running" if self.in_flight[row.session_id] and row.status not in ENDED else row.status

    # -- reading -----------------------------------------------------------
    async def get(self, session_id: str) -> SessionRow:
        row = await self.store.get(auth.account_id(), session_id)
        if row is None:
            raise errors.not_found("session", session_id)
        return row

    async def read(self, session_id: str, tail: int, since: int | None, full: bool):
        if tail < 0 or (since is not None and since < 0):
            raise errors.invalid("tail and since must not be negative", "tail" if tail < 0 else "since")
        row = await self.get(session_id)
        if full:
            transcript = await self.store.transcript(session_id)
        elif since is not None:
            transcript = await self.store.transcript(session_id, since=since, limit=min(tail or MAX_ENTRIES, MAX_ENTRIES))
        else:
            transcript = await self.store.transcript(session_id, tail=min(tail or DEFAULT_TAIL, MAX_ENTRIES))
        return row, transcript, await self.store.events(session_id)

    async def watch(self, session_id: str, since: int | None) -> AsyncIterator[tuple]:
        """The session's changes as they are written (see WatchSession): each
        (row, status, new entries, new events, the last seq sent). Each
        watch looks at the database: an account holds quotas.watches open."""
        row = await self.get(session_id)
        account = row.account_id
        if self._watches[account] >= self.quotas.watches:
            raise errors.quota("watches", self.quotas.watches, "session watches open for this account", 5)
        self._watches[account] += 1
        try:
            async for change in self._changes(row, since):
                yield change
        finally:
            self._watches[account] -= 1
            if self._watches[account] <= 0:
                del self._watches[account]

    async def _changes(self, row: SessionRow, since: int | None) -> AsyncIterator[tuple]:
        session_id = row.session_id
        seq = row.last_seq if since is None else since
        newest = await self.store.events(session_id, limit=1)
        event_id = newest[-1].id if newest else 0
        sent, quiet = None, 0.0
        while True:
            entries = await self.store.transcript(session_id, since=seq, limit=WATCH_PAGE)
            events = await self.store.events(session_id, after=event_id)
            row = await self.store.get(row.account_id, session_id)
            if row is None:  # deleted under the watch
                return
            status = self.live_status(row)
            if entries or events or status != sent or quiet >= WATCH_HEARTBEAT_S:
                seq = entries[-1].seq if entries else seq
                event_id = events[-1].id if events else event_id
                sent, quiet = status, 0.0
                yield row, status, entries, events, seq
            if row.status in ENDED and len(entries) < WATCH_PAGE:
                return
            if len(entries) < WATCH_PAGE:
                started = asyncio.get_running_loop().time()
                await self.store.changes.wait(session_id, WATCH_LOOK_S)
                quiet += asyncio.get_running_loop().time() - started

    async def model_turn(self, session_id: str, req: pb.RunLlmRequest) -> AsyncIterator:
        """A run-llm turn: the reply's text as it comes, then (the session,
        the RunLlmResponse) once the turn is in the transcript. Nothing is
        appended for a turn that fails."""
        row = await self.get(session_id)
        if row.status in ENDED:
            raise errors.conflict(f"session {session_id} is {row.status}; start a new one (or spawn from it)")
        harness = llm.harness_for(req.model, row.harness)
        system, messages = llm.conversation(await self.store.transcript(session_id, tail=llm.HISTORY), req.system)
        if messages and messages[-1]["role"] == "user":
            messages[-1]["content"] += "\n\n" + req.input
        else:
            messages.append({"role": "user", "content": req.input})
        max_tokens = req.max_tokens if req.HasField("max_tokens") else llm.DEFAULT_MAX_TOKENS
        with tracer.start_as_current_span(metrics.LLM, attributes={
                metrics.SESSION_ATTR: session_id, "cerver.harness": harness, "gen_ai.request.model": req.model}) as span:
            async for piece in llm.stream(harness, req.model, system, messages, max_tokens):
                if isinstance(piece, llm.Turn):
                    turn = piece
                else:
                    yield piece
            span.set_attributes({"gen_ai.usage.input_tokens": turn.input_tokens,
                                 "gen_ai.usage.output_tokens": turn.output_tokens})
        duration, cost = round(telemetry.span_ms(span), 2), llm.cost_usd(harness, req.model, turn)
        usage = pb.LlmUsage(input_tokens=turn.input_tokens, output_tokens=turn.output_tokens)
        meta = {"model": req.model, "harness": harness, "input_tokens": turn.input_tokens,
                "output_tokens": turn.output_tokens, "cost_usd": round(cost, 8), "duration_ms": duration,
                "stop_reason": turn.stop_reason}
        appended = await self.store.append(row.account_id, session_id, [
            dict(at=now(), role="user", kind="text", content=req.input, metadata_json="{}"),
            dict(at=now(), role="assistant", kind="text", content=turn.output, metadata_json=json.dumps(meta))],
            interactions=1, model_turn=(turn.input_tokens, turn.output_tokens, cost, duration))
        if appended is None:
            raise errors.not_found("session", session_id)
        seqs, updated = appended
        yield updated, pb.RunLlmResponse(session_id=session_id, model=req.model, output=turn.output,
                                         duration_ms=duration, harness=harness, usage=usage, cost_usd=round(cost, 8),
                                         stop_reason=turn.stop_reason, seq=seqs[-1])

    async def search(self, q: str, limit: int, cursor: str) -> tuple[list[dict], str]:
        """Entries of the caller's sessions that hold every word of q, newest first."""
        words = SEARCH_WORD.findall(q)[:MAX_SEARCH_WORDS]
        if not words:
            raise errors.invalid("q needs at least one word", "q")
        limit = limit or 20
        rows = await self.store.search(auth.account_id(), words, limit + 1, int(cursor) if cursor else None)
        return rows[:limit], (str(rows[limit - 1]["id"]) if len(rows) > limit else "")

    async def page(self, limit: int, cursor: str, status: str, state: str, name: str, compute_id: str = ""):
        if not 0 <= limit <= MAX_LIST:
            raise errors.invalid(f"limit must be 1..{MAX_LIST}", "limit")
        if state and state not in ("running", "idle", "ended"):
            raise errors.invalid("state must be running, idle or ended", "state")
        after = decode_cursor(cursor) if cursor else None
        limit = limit or 20
        rows = await self.store.page(auth.account_id(), limit + 1, after, status=status, state=state, name=name,
                                     compute_id=compute_id)
        next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else ""
        return rows[:limit], next_cursor

    # -- transcript ----------------------------------------------------------
    async def append(self, session_id: str, entries: list[pb.EntryInput], idempotency_key: str = "") -> list[int]:
        """Append entries; with an idempotency key, a retry of the same
        append returns the seqs of the first instead of appending again."""
        if idempotency_key and not IDEMPOTENCY_KEY.match(idempotency_key):
            raise errors.invalid("Idempotency-Key is 1 to 255 printable ASCII characters", "Idempotency-Key")
        if not entries:
            raise errors.invalid("entries must hold at least one entry", "entries")
        if len(entries) > MAX_ENTRIES:
            raise errors.invalid(f"at most {MAX_ENTRIES} entries per append", "entries")
        rows = []
        for e in entries:  # content and role as their contract says (checked by the guard)
            rows.append(dict(at=from_timestamp(e.at) if e.HasField("at") else now(), role=e.role or "user",
                             kind=e.kind or "text", content=e.content,
                             metadata_json=json.dumps(dict(_struct_dict(e.metadata)))))
        row = await self.get(session_id)
        if row.status in ENDED:
            raise errors.conflict(f"session {session_id} is {row.status}; its transcript is read-only")
        idempotency = None
        if idempotency_key:
            body = b"".join(e.SerializeToString(deterministic=True) + b"\0" for e in entries)
            idempotency = (idempotency_key, hashlib.sha256(body).hexdigest())
        try:
            appended = await self.store.append(auth.account_id(), session_id, rows, interactions=len(rows),
                                               idempotency=idempotency)
        except IdempotencyConflict:
            raise errors.conflict("this Idempotency-Key was used for a different append to this session") from None
        if appended is None:
            raise errors.not_found("session", session_id)
        return appended[0]

    # -- creating and placing compute ---------------------------------------
    async def create(self, req: pb.CreateSessionRequest) -> SessionRow:
        sandbox_limits.check(req.requirements)
        target = parse_target(req.compute if req.HasField("compute") else None, req.target_compute_id)
        session_id = str(uuid.uuid4())
        at = now()
        timeout = req.requirements.timeout_minutes if req.requirements.HasField("timeout_minutes") else DEFAULT_TIMEOUT_MINUTES
        row = SessionRow(
            session_id=session_id, account_id=auth.account_id(), session_name=req.session_name,
            harness=req.harness, task=req.task, workload=req.workload,
            requirements_json=dump(req.requirements), policy_json=dump(req.policy), repo_json=dump(req.repo),
            metadata_json=json.dumps(_struct_dict(req.metadata)), created_at=at, updated_at=at,
            expires_at=at + timedelta(minutes=timeout))
        if req.session_type == "transcript" or (target is not None and target.none):
            row.session_type, row.status, row.provider, row.expires_at = "transcript", "idle", "none", None
            await self.store.insert(row, [event(session_id, "created", "transcript-only", "", "idle")])
            return row
        return await self._create_with_compute(row, target, req.requirements, req.policy, req.repo)


    async def _create_with_compute(self, row: SessionRow, target: Target | None, requirements, policy, repo,
                                   parent_event: EventRow | None = None) -> SessionRow:
        # The quota is read while the router decides; whichever refuses first answers.
        _, report = await asyncio.gather(self._check_compute_quota(row.account_id),
                                         self._route(row, target, requirements, policy, repo))
        row.status = "provisioning"
        events = [event(row.session_id, "created", row.task[:200], "", "provisioning")]
        if parent_event is not None:
            events.append(parent_event)
        await self.store.insert(row, events)
        return await self._attach(row, report, target, requirements, workspace_id="", event_type="provisioned")

    async def _check_compute_quota(self, account_id: str) -> None:
        most = self.quotas.sessions_with_compute
        if await self.store.with_compute(account_id) >= most:
            raise errors.quota("sessions_with_compute", most,
                               "sessions holding compute; pause or end one (a paused session keeps its transcript)")

    async def _route(self, row: SessionRow, target: Target | None, requirements, policy, repo):
        request = router_pb2.RecommendRequest(
            task=row.task, workload=row.workload, repo=repo, requirements=requirements, policy=policy,
            require_executable=True, provider=target.provider if target else "",
            compute_id=target.compute_id if target else "")
        report = await self.router.Recommend(request, metadata=_credentials(row.account_id), timeout=30)
        if not report.decision.recommended_provider:
            raise errors.conflict("no executable compute qualifies for this session: " + report.human_summary.headline,
                                  report)
        return report

    async def _attach(self, row: SessionRow, report, target: Target | None, requirements, workspace_id: str,
                      event_type: str) -> SessionRow:
        """Provision a sandbox on the routed provider and bind it to the
        session. A new session the router placed (no compute named) fails
        over to the next provider of the decision's fallback_order, and its
        events say so."""
        candidates = [report.decision.recommended_provider]
        if target is None and event_type == "provisioned":
            candidates += list(report.decision.fallback_order)
        for attempt, provider in enumerate(candidates):
            request = compute_pb2.CreateSandboxRequest(
                compute_id=target.compute_id if target else "", provider=provider, requirements=requirements,
                session_id=row.session_id, workspace_id=workspace_id)
            try:
                with tracer.start_as_current_span(metrics.PROVISION, attributes={
                        metrics.SESSION_ATTR: row.session_id, "cerver.provider": provider}) as span:
                    sandbox = await self.compute.CreateSandbox(request, metadata=_credentials(row.account_id),
                                                               timeout=config.CREATE_TIMEOUT_S)
                # The router learns off the caller's path: its estimates are
                # eventually consistent, the session is ready now.
                self._spawn(self._report(row.account_id, provider, True, telemetry.span_ms(span)))
                break
            except grpc.aio.AioRpcError as err:
                self._spawn(self._report(row.account_id, provider, False, 0.0))
                why = f"provisioning on {provider} failed: {errors.describe(err)}"
                if attempt + 1 < len(candidates) and err.code() in FAILOVER_CODES:
                    await self._update(row.account_id, row.session_id, event(
                        row.session_id, "failover", f"{why}; placing it on {candidates[attempt + 1]} "
                                                    f"(next in fallback_order)"))
                    continue
                await self._provision_failed(row, event_type, why, err)
        chosen = next((p for p in report.providers if p.name == sandbox.provider), None)
        updated = await self._update(
            row.account_id, row.session_id,
            event(row.session_id, event_type, f"{sandbox.provider} {sandbox.compute_id}", row.status, "ready"),
            spans=self.span_metrics.drain(row.session_id), status="ready", provider=sandbox.provider,
            compute_id=sandbox.compute_id, sandbox_id=sandbox.sandbox_id,
            workspace_id=sandbox.workspace_id, routing_json=dump(report.decision),
            predicted_startup_ms=float(chosen.predicted_startup_ms) if chosen else 0.0,
            uptime_percent=round(100 * chosen.reliability, 2) if chosen else 0.0,
            price_per_second=chosen.price.per_second_usd if chosen else 0.0,
            price_per_session=chosen.price.per_session_usd if chosen else 0.0,
            compute_attached_at=now(), expires_at=now() + self._budget_left(row))
        return updated

    async def _provision_failed(self, row: SessionRow, event_type: str, why: str, err: grpc.aio.AioRpcError):
        if event_type == "provisioned":  # a new session that never had compute
            await self._update(row.account_id, row.session_id, event(row.session_id, "failed", why, row.status,
                                                                     "failed"),
                               status="failed", end_reason="provision_failed", ended_at=now())
            raise err
        # A resume or swap that cannot provision leaves the session paused
        # and resumable (here or elsewhere), and says why.
        await self._update(row.account_id, row.session_id, event(row.session_id, "resume_failed", why,
                                                                 row.status, "paused"),
                           status="paused", expires_at=now() + self.paused_retention)
        error = errors.from_rpc_error(err)
        error.message = f"{why}; session {row.session_id} stays paused: resume it again, here or elsewhere"
        raise error from None

    @staticmethod
    def _budget_left(row: SessionRow) -> timedelta:
        """What is left of timeout_minutes, which bounds compute-attached time."""
        minutes = json.loads(row.requirements_json).get("timeout_minutes") or DEFAULT_TIMEOUT_MINUTES
        return timedelta(seconds=max(0.0, minutes * 60 - row.compute_seconds))

    async def _report(self, account_id: str, provider: str, success: bool, provision_ms: float) -> None:
        try:
            await self.router.ReportOutcome(router_pb2.ReportOutcomeRequest(
                provider=provider, success=success, provision_ms=provision_ms),
                metadata=auth.service_metadata(account_id), timeout=5)
        except grpc.aio.AioRpcError as err:  # learning is best-effort; the session goes on
            log.warning("router did not take the outcome: %s", err.code())

    async def _release(self, row: SessionRow, keep_workspace: bool) -> dict:
        """Delete the session's sandbox; the columns to store afterwards (the
        workspace stays named only when its provider kept it)."""
        kept = keep_workspace
        if row.sandbox_id:
            try:
                reply = await self.compute.DeleteSandbox(compute_pb2.DeleteSandboxRequest(
                    sandbox_id=row.sandbox_id, keep_workspace=keep_workspace),
                    metadata=_credentials(row.account_id), timeout=30)
                kept = reply.workspace_kept
            except grpc.aio.AioRpcError as err:
                # Already gone (compute restarted or went offline): nothing to free.
                if err.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                    raise
        seconds = metrics.compute_seconds(row)
        return dict(sandbox_id=None, compute_attached_at=None, compute_seconds=seconds,
                    workspace_id=row.workspace_id if kept else None)

    async def _update(self, account_id: str, session_id: str, event_row: EventRow | None = None, **values):
        self._attached.pop(session_id, None)
        return await self.store.update(account_id, session_id, event_row, **values)

    # -- running code ----------------------------------------------------------
    async def _runnable(self, session_id: str, cached: bool = False) -> SessionRow:
        row = self._attached.get(session_id) if cached else None
        if row is None or row.account_id != auth.account_id():
            row = await self.get(session_id)
        await self._expire_if_due(row)
        if row.session_type == "transcript":
            raise errors.conflict("this is a transcript-only session: it has no compute to run code on")
        if row.status in ENDED:
            raise errors.conflict(f"session {session_id} is {row.status} ({row.end_reason}); create a new session")
        if row.status == "paused":
            raise errors.conflict(f"session {session_id} is paused; resume it first (POST /v2/sessions/{session_id}/resume)")
        if not row.sandbox_id or row.status == "provisioning":
            raise errors.conflict(f"session {session_id} has no compute attached; resume it first")
        self._attached[session_id] = row
        return row

    async def file_call(self, session_id: str, method: str, request):
        """A file call on the session's sandbox, made by compute for the
        caller (who owns the session, and so the sandbox)."""
        row = await self._runnable(session_id)
        request.sandbox_id = row.sandbox_id
        try:
            return await getattr(self.compute, method)(request, metadata=peers.credentials(),
                                                       timeout=config.CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as err:
            raise errors.from_rpc_error(err) from None

    async def resolve_preview(self, host_label: str) -> pb.PreviewTarget:
        """Where a preview's host name leads: the signature in it is the grant
        (anyone holding the URL may reach the port), for as long as the
        session has compute on a node."""
        session_id = previews.session_of(host_label)
        row = await self.store.find(session_id) if session_id else None
        if row is None:
            raise errors.not_found("preview", host_label[:63])
        requirements = load(row.requirements_json, common_pb2.Requirements)
        if not previewable(row, requirements):
            raise errors.conflict(f"session {row.session_id} has no public preview now (it is {row.status}"
                                  f"{'' if requirements.public_preview else ', without public_preview'})")
        try:
            address = await self.nodes.preview_address(row.compute_id)
        except (SandboxRefused, DirectoryUnavailable) as exc:
            raise errors.unavailable(f"the preview's node cannot be looked up now ({exc})") from None
        if not address:
            raise errors.conflict(f"the node of session {row.session_id} serves no previews")
        return pb.PreviewTarget(session_id=row.session_id, sandbox_id=row.sandbox_id, node_preview_address=address,
                                port=requirements.preview_port if requirements.HasField("preview_port") else
                                config.PREVIEW_PORT)

    async def upload(self, requests: AsyncIterator) -> compute_pb2.FileInfo:
        """A streamed upload into the session's sandbox, passed on to compute
        piece by piece as it comes (the first message names the session)."""
        first = await anext(aiter(requests), None)
        if first is None:
            raise errors.invalid("an upload names its session and path in its first message", "path")
        row = await self._runnable(first.session_id)

        async def pieces():
            yield compute_pb2.UploadFileRequest(sandbox_id=row.sandbox_id, path=first.path, file=first.file)
            async for more in requests:
                yield compute_pb2.UploadFileRequest(file=more.file)

        try:
            return await self.compute.UploadFile(pieces(), metadata=peers.credentials(),
                                                 timeout=config.TRANSFER_TIMEOUT_S)
        except grpc.aio.AioRpcError as err:
            raise errors.from_rpc_error(err) from None

    async def download(self, session_id: str, path: str) -> AsyncIterator:
        row = await self._runnable(session_id)
        call = self.compute.DownloadFile(compute_pb2.DownloadFileRequest(sandbox_id=row.sandbox_id, path=path),
                                         metadata=peers.credentials(), timeout=config.TRANSFER_TIMEOUT_S)
        try:
            async for piece in call:
                yield piece
        except grpc.aio.AioRpcError as err:
            raise errors.from_rpc_error(err) from None
        finally:
            call.cancel()  # the caller went away: stop reading the file

    def _run_request(self, row: SessionRow, req: pb.RunCodeRequest) -> compute_pb2.RunSandboxRequest:
        runtime = req.runtime  # none named: the node reads code by the rule (README, "What code means")
        timeout = req.timeout if req.HasField("timeout") else config.RUN_TIMEOUT_S
        return compute_pb2.RunSandboxRequest(sandbox_id=row.sandbox_id, code=req.code, runtime=runtime,
                                             timeout=timeout, stdin=req.stdin, env=dict(req.env))

    async def _sandbox_gone(self, err: "grpc.aio.AioRpcError | SandboxCallFailed",
                            row: SessionRow) -> errors.ServiceError:
        """A run's compute failed under it. When the sandbox is gone or its
        machine unreachable, the session is paused (compute lost) so that it
        can be resumed, here or elsewhere."""
        ours = isinstance(err, SandboxCallFailed)  # its message is fit for a caller already
        if err.code() not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
            return errors.ServiceError(err.code(), err.details()) if ours else errors.from_rpc_error(err)
        said = err.details() if ours else errors.describe(err)
        current = await self.store.get(row.account_id, row.session_id)
        if current is not None and current.sandbox_id == row.sandbox_id and current.status not in ENDED:
            await self._update(row.account_id, row.session_id,
                                    event(row.session_id, "compute_lost", said,
                                          current.status, "paused"),
                                    status="paused", sandbox_id=None, compute_attached_at=None,
                                    compute_seconds=metrics.compute_seconds(current),
                                    expires_at=now() + self.paused_retention)
        if err.code() == grpc.StatusCode.NOT_FOUND:
            return errors.conflict(f"the compute of session {row.session_id} is gone; the session is paused: "
                                   f"resume it (POST /v2/sessions/{row.session_id}/resume)")
        return errors.unavailable(f"the compute of session {row.session_id} became unreachable ({said}); "
                                  f"the session is paused: resume it, here or elsewhere")

    async def run(self, session_id: str, req: pb.RunCodeRequest):
        for cached in (True, False):
            row = await self._runnable(session_id, cached=cached)
            self._begin(row)
            stdout, stderr, final = [], [], None
            try:
                with tracer.start_as_current_span(metrics.EXEC, attributes={
                        metrics.SESSION_ATTR: session_id, "cerver.provider": row.provider}) as span:
                    async for event in self._events(row, req, whole=True):
                        if event.type == "stdout":
                            stdout.append(event.data)
                        elif event.type == "stderr":
                            stderr.append(event.data)
                        elif event.type == "exit":
                            final = event
                break
            except SandboxCallFailed as err:
                if cached and err.code() == grpc.StatusCode.NOT_FOUND:
                    # The cached sandbox is gone, so nothing ran: the row was
                    # stale. Read it afresh and try once more.
                    self._attached.pop(session_id, None)
                    continue
                raise await self._sandbox_gone(err, row) from None
            finally:
                self._done(row)
        duration = telemetry.span_ms(span)
        out = _stream_result(stdout, stderr, final)
        updated = await self._record_run(row, req.code, out, duration, streamed=False)
        return updated or row, out, duration

    async def _events(self, row: SessionRow, req: pb.RunCodeRequest, whole: bool = False) -> AsyncIterator[RunEvent]:
        """A run's events, straight from the node that holds the sandbox (the
        data path: compute, on the control path only, is not crossed); whole:
        the node sends them at the run's end, in one reply. Failures come as
        SandboxCallFailed, with the gRPC code they mean."""
        request = self._run_request(row, req)
        client = self.sandboxes.get(row.provider)
        if req.context == "persistent":
            async for event in self._cell(client, row, request):
                yield event
            return
        if client is None:
            async for event in self._through_compute(request):
                yield event
            return
        with _node_failures():
            async for event in client.run(row, request.runtime, request.code, request.stdin, dict(request.env),
                                          request.timeout, whole):
                yield event

    async def _cell(self, client, row: SessionRow, request: compute_pb2.RunSandboxRequest) -> AsyncIterator[RunEvent]:
        """A run in the sandbox's persistent Python context: the node's (or,
        for providers not on a node, compute's) cell, as run events; the
        exit event carries the cell."""
        yield RunEvent(type="started")
        with _node_failures():
            if client is not None:
                cell = await client.run_cell(row, request.code, request.timeout)
            else:
                cell = await self.compute.RunCell(
                    compute_pb2.RunCellRequest(sandbox_id=row.sandbox_id, code=request.code, timeout=request.timeout),
                    metadata=peers.credentials(), timeout=request.timeout + config.CELL_GRACE_S)
        for kind, data in (("stdout", cell.output), ("stderr", cell.error)):
            if data:
                yield RunEvent(type=kind, data=data)
        yield RunEvent(type="exit", exit_code=cell.exit_code, timed_out=cell.timed_out, truncated=cell.truncated,
                       duration_ms=float(cell.duration), reason="timeout" if cell.timed_out else "", cell=cell)

    async def _through_compute(self, request: compute_pb2.RunSandboxRequest) -> AsyncIterator[RunEvent]:
        """A run on a provider whose sandboxes are not on a node runtime (a
        cluster, a cloud): the compute service holds its adapter and its
        credentials, so the run goes through it."""
        yield RunEvent(type="started")
        try:
            async for out in self.compute.RunSandboxStream(request, metadata=peers.credentials(),
                                                           timeout=request.timeout + config.RUN_GRACE_S):
                if out.type == "error":  # compute's stream failed once begun (SandboxOutput.error)
                    raise SandboxCallFailed(errors.code_of(out.error.code), out.error.message)
                yield node_client.run_event(out)
        except grpc.aio.AioRpcError as err:
            raise SandboxCallFailed(err.code(), errors.describe(err)) from None

    def _begin(self, row: SessionRow) -> None:
        """A run starts: within the account's concurrent runs, counted."""
        if self._account_runs[row.account_id] >= self.quotas.runs:
            raise errors.quota("concurrent_runs", self.quotas.runs, "runs in flight for this account", 1)
        self._account_runs[row.account_id] += 1
        self.in_flight[row.session_id] += 1
        metrics.ACTIVE_RUNS.add(1)

    def _done(self, row: SessionRow) -> None:
        metrics.ACTIVE_RUNS.add(-1)
        for counter, key in ((self.in_flight, row.session_id), (self._account_runs, row.account_id)):
            counter[key] -= 1
            if counter[key] <= 0:
                del counter[key]

    async def _record_run(self, row: SessionRow, code: str, result: pb.RunResult, duration_ms: float,
                          streamed: bool) -> SessionRow | None:
        """The run's code and result into the transcript, its spans into the
        metrics, in one transaction."""
        meta = {"exit_code": result.exit_code, "duration_ms": round(duration_ms, 2), "stream": streamed,
                "timed_out": result.timed_out, "truncated": result.truncated, "reason": result.reason}
        if result.HasField("cell"):  # a persistent context's run
            meta.update(text=_bounded(result.cell.text, 4096), error_name=result.cell.error_name,
                        displays=[sorted(r.data) for r in result.cell.results][:20])
        # An entry stays within MAX_CONTENT_CHARS whatever the compute sent.
        stdout, stderr = _bounded(result.stdout), _bounded(result.stderr)
        if len(stdout) + len(stderr) > MAX_CONTENT_CHARS:
            stdout = _bounded(stdout, MAX_CONTENT_CHARS - len(stderr))
        content = stdout if not stderr else (stdout + ("\n" if stdout else "") + "[stderr]\n" + stderr)
        # A run may print NUL; a transcript (PostgreSQL text) cannot hold it.
        content, stderr = content.replace("\0", "\ufffd"), stderr.replace("\0", "\ufffd")
        entries = [dict(at=now(), role="assistant", kind="code", content=code, metadata_json="{}"),
                   dict(at=now(), role="tool", kind="result", content=content,
                        metadata_json=json.dumps({**meta, "stderr": stderr}))]
        appended = await self.store.append(row.account_id, row.session_id, entries, interactions=1, settle=True,
                                           spans=self.span_metrics.drain(row.session_id))
        return appended[1] if appended else None

    async def stream(self, session_id: str, req: pb.RunCodeRequest, context):
        # Read afresh: a stream cannot be retried once it has begun.
        row = await self._runnable(session_id)
        self._begin(row)
        span = tracer.start_span(metrics.STREAM_OPEN, attributes={
            metrics.SESSION_ATTR: session_id, "cerver.provider": row.provider})
        events = self._events(row, req)
        stdout, stderr, final, opened, recorded = [], [], None, False, False
        try:
            try:
                await anext(events)  # "started": the call is on its way to the sandbox
            except SandboxCallFailed as err:
                span.set_status(telemetry.error_status(err.details()))
                span.end()
                raise await self._sandbox_gone(err, row) from None
            span.end()
            opened = True
            await context.send_initial_metadata((
                ("x-cerver-session-id", session_id), ("x-cerver-provider", row.provider),
                ("x-cerver-stream-latency-ms", f"{telemetry.span_ms(span):.2f}")))
            async for chunk in events:
                if chunk.type == "stdout":
                    stdout.append(chunk.data)
                elif chunk.type == "stderr":
                    stderr.append(chunk.data)
                elif chunk.type == "exit":
                    final = chunk
                    # Recorded before the exit event goes out, so a client
                    # that reads metrics right after sees this run.
                    await self._record_run(row, req.code, _stream_result(stdout, stderr, final),
                                           final.duration_ms, streamed=True)
                    recorded = True
                yield pb.RunEvent(type=chunk.type, data=chunk.data, exit_code=chunk.exit_code,
                                  duration_ms=chunk.duration_ms, timed_out=chunk.timed_out,
                                  truncated=chunk.truncated, session_id=session_id, reason=chunk.reason)
        except SandboxCallFailed as err:
            raise await self._sandbox_gone(err, row) from None
        finally:
            await events.aclose()  # stops the run if our caller left
            self._done(row)
            if opened and not recorded:
                # The caller left mid-stream (this generator is being
                # cancelled): record what ran in a task of its own.
                self._spawn(self._record_run(row, req.code, _stream_result(stdout, stderr, final),
                                             0.0, streamed=True))

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain_background(self) -> None:
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    # -- lifecycle -----------------------------------------------------------
    async def pause(self, session_id: str) -> SessionRow:
        row = await self.get(session_id)
        await self._expire_if_due(row)
        self._require_compute_session(row, "pause")
        if row.status == "paused":
            return row
        persistence = json.loads(row.requirements_json).get("persistence_level") or "medium"
        keep = persistence in ("medium", "high")
        released = await self._release(row, keep_workspace=keep)
        detail = "workspace kept" if released["workspace_id"] else (
            f"workspace discarded ({row.provider} keeps no workspace across a pause)" if keep
            else "workspace discarded (persistence_level low)")
        # The clock of timeout_minutes stops; retention starts.
        return await self._update(row.account_id, session_id,
                                       event(session_id, "paused", detail, row.status, "paused"),
                                       status="paused", expires_at=now() + self.paused_retention, **released)

    def _require_compute_session(self, row: SessionRow, verb: str) -> None:
        if row.status in ENDED:
            raise errors.conflict(f"session {row.session_id} is {row.status}; it cannot {verb}")
        if row.session_type == "transcript":
            raise errors.conflict(f"session {row.session_id} is transcript-only: there is no compute to {verb}")

    async def resume(self, req: pb.ResumeSessionRequest) -> SessionRow:
        row = await self.get(req.session_id)
        await self._expire_if_due(row)
        self._require_compute_session(row, "resume")
        target = parse_target(_named_compute(req), req.target_compute_id)
        if row.status != "paused" and row.sandbox_id and target is None:
            return row  # already has compute
        if not row.sandbox_id:
            await self._check_compute_quota(row.account_id)
        requirements, policy, repo = self._routing_inputs(row)
        if target is None and row.compute_id:
            target = Target(compute_id=row.compute_id)
        try:
            report = await self._route(row, target, requirements, policy, repo)
        except (errors.ServiceError, grpc.aio.AioRpcError):
            if req.target_compute_id or req.HasField("compute"):
                raise
            target = None  # its old compute is gone: let the router place it
            report = await self._route(row, None, requirements, policy, repo)
        same_compute = target is not None and target.compute_id == row.compute_id
        if row.sandbox_id:
            await self._update(row.account_id, row.session_id, None, **await self._release(row, False))
            row = await self.get(row.session_id)
        return await self._attach(row, report, target, requirements,
                                  workspace_id=row.workspace_id or "" if same_compute else "", event_type="resumed")

    def _routing_inputs(self, row: SessionRow):
        return (load(row.requirements_json, common_pb2.Requirements), load(row.policy_json, common_pb2.Policy),
                load(row.repo_json, common_pb2.Repo))

    async def spawn(self, req: pb.SpawnSessionRequest) -> SessionRow:
        parent = await self.get(req.session_id)
        self._require_compute_session(parent, "spawn")
        target = parse_target(_named_compute(req), req.target_compute_id)
        if target is None:
            target = Target(compute_id=parent.compute_id) if parent.compute_id else Target(provider=parent.provider)
        requirements, policy, repo = self._routing_inputs(parent)
        if req.HasField("requirements"):
            sandbox_limits.check(req.requirements)
            requirements = req.requirements
        at = now()
        timeout = requirements.timeout_minutes if requirements.HasField("timeout_minutes") else DEFAULT_TIMEOUT_MINUTES
        child = SessionRow(
            session_id=str(uuid.uuid4()), account_id=parent.account_id,
            session_name=req.session_name or f"{parent.session_name or 'session'}-child",
            harness=parent.harness, task=req.task or parent.task, workload=parent.workload,
            parent_session_id=parent.session_id, requirements_json=dump(requirements),
            policy_json=parent.policy_json, repo_json=parent.repo_json, created_at=at, updated_at=at,
            expires_at=at + timedelta(minutes=timeout))
        created = await self._create_with_compute(
            child, target, requirements, policy, repo,
            parent_event=event(child.session_id, "spawned", f"child of {parent.session_id}"))
        await self._update(parent.account_id, parent.session_id,
                                event(parent.session_id, "spawned", f"child {child.session_id}"))
        return created

    async def swap(self, req: pb.SwapComputeRequest) -> SessionRow:
        row = await self.get(req.session_id)
        await self._expire_if_due(row)
        if row.status in ENDED:
            raise errors.conflict(f"session {row.session_id} is {row.status}; it cannot change compute")
        if not req.HasField("compute"):
            raise errors.invalid('compute is required: {"provider": …}, {"compute_id": …} or null', "compute")
        target = parse_target(req.compute)
        if target.none:
            released = await self._release(row, keep_workspace=False)
            return await self._update(
                row.account_id, row.session_id,
                event(row.session_id, "compute_swapped", "compute released; transcript-only now", row.status, "idle"),
                status="idle", session_type="transcript", provider="none", compute_id=None, expires_at=None,
                **released)
        requirements, policy, repo = self._routing_inputs(row)
        report = await self._route(row, target, requirements, policy, repo)
        if row.sandbox_id:
            await self._update(row.account_id, row.session_id, None, **await self._release(row, False))
            row = await self.get(row.session_id)
        await self._update(row.account_id, row.session_id, None, session_type="compute",
                                expires_at=row.expires_at or now() + timedelta(minutes=DEFAULT_TIMEOUT_MINUTES))
        return await self._attach(row, report, target, requirements, workspace_id="", event_type="compute_swapped")

    async def terminate(self, session_id: str, reason: str = "terminated_by_user",
                        account_id: str | None = None) -> SessionRow:
        account = account_id or auth.account_id()
        row = await self.store.get(account, session_id)
        if row is None:
            raise errors.not_found("session", session_id)
        if row.status in ENDED:
            return row
        released = await self._release(row, keep_workspace=False)
        return await self._update(account, session_id,
                                       event(session_id, {"timeout": "timed_out", "retention": "expired"}.get(
                                           reason, "terminated"),
                                             reason, row.status, "terminated"),
                                       status="terminated", end_reason=reason, ended_at=now(), **released)

    async def _expire_if_due(self, row: SessionRow) -> None:
        if row.expires_at is not None and row.status not in ENDED and row.expires_at <= now():
            reason = _expiry(row)
            await self.terminate(row.session_id, reason, row.account_id)
            raise errors.conflict(f"session {row.session_id} was ended: " + (
                "it stayed paused past its retention" if reason == "retention" else "it reached its timeout_minutes"))

    async def reconcile(self) -> int:
        """Sessions whose sandbox is gone (its compute restarted) become
        paused, with the reason, instead of showing ready until touched.
        At start-up and periodically; an unreachable compute is asked again
        next time. Returns how many were paused."""
        paused, after = 0, ""
        while rows := await self.store.attached(after):
            after = rows[-1].session_id
            for row in rows:
                try:
                    await self.compute.GetState(compute_pb2.GetStateRequest(sandbox_id=row.sandbox_id),
                                                metadata=auth.service_metadata(row.account_id), timeout=10)
                except grpc.aio.AioRpcError as err:
                    if err.code() == grpc.StatusCode.NOT_FOUND:
                        await self._sandbox_gone(err, row)
                        paused += 1
                    elif err.code() == grpc.StatusCode.UNAVAILABLE:
                        return paused
        return paused

    async def reap_expired(self) -> int:
        """End every session past its timeout, or paused past its retention
        (called periodically)."""
        await self.store.forget_idempotency(now() - IDEMPOTENCY_TTL)
        rows = await self.store.expired(now())
        for row in rows:
            try:
                await self.terminate(row.session_id, _expiry(row), row.account_id)
            except Exception:  # noqa: BLE001 - one bad session must not stop the sweep
                log.exception("could not end expired session %s", row.session_id)
        return len(rows)


def _expiry(row: SessionRow) -> str:
    """Why a session past its expires_at ends: paused past retention, or out of attached time."""
    return "retention" if row.status == "paused" else "timeout"


class SandboxCallFailed(Exception):
    """A run's call to its sandbox failed, with the gRPC code that says how."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self._code, self._message = code, message

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._message


@contextlib.contextmanager
def _node_failures():
    """A sandbox call's failures as SandboxCallFailed, with the gRPC code they
    mean; the registry not answering is a plain retryable error (nothing ran,
    and nothing is known to be wrong with the sandbox)."""
    try:
        yield
    except SandboxRefused as exc:
        raise SandboxCallFailed(grpc.StatusCode.NOT_FOUND if exc.not_found
                                else grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
    except SandboxGone as exc:  # its machine is not there (unreachable, or gone mid-run)
        raise SandboxCallFailed(grpc.StatusCode.UNAVAILABLE, str(exc)) from None
    except DirectoryUnavailable:
        raise errors.unavailable("where the sandbox runs cannot be looked up now (the compute service does not "
                                 "answer); nothing ran: try again shortly") from None
    except grpc.aio.AioRpcError as err:
        raise SandboxCallFailed(err.code(), errors.describe(err)) from None


def _stream_result(stdout: list[str], stderr: list[str], final) -> pb.RunResult:
    if final is None:  # interrupted before the exit event
        return pb.RunResult(stdout="".join(stdout), stderr="".join(stderr) + "\n[stream interrupted]", exit_code=-1)
    out = pb.RunResult(stdout="".join(stdout), stderr="".join(stderr), exit_code=final.exit_code,
                       timed_out=final.timed_out, truncated=final.truncated, reason=final.reason)
    if final.cell is not None:  # a persistent context's run
        cell = final.cell
        out.cell.MergeFrom(pb.CellOutcome(text=cell.text, results=cell.results, error_name=cell.error_name,
                                          error_value=cell.error_value, context_restarted=cell.context_restarted))
    return out


def _bounded(text: str, most: int = MAX_CONTENT_CHARS // 2) -> str:
    if len(text) <= most:
        return text
    note = "\n[output truncated for the transcript]\n"
    return text[:max(0, most - len(note))] + note


def _struct_dict(s: struct_pb2.Struct) -> dict:
    return json_format.MessageToDict(s)
