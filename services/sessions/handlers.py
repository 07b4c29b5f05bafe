"""SessionService RPCs: validate, call the domain, shape the reply."""

from cerver.v2 import compute_pb2
from cerver.v2 import sessions_pb2 as pb
from cerver.v2 import sessions_pb2_grpc
from servicekit.clock import to_timestamp
from services.sessions import metrics, views
from services.sessions.domain import Sessions
from services.sessions.store import coarse_state


class SessionHandlers(sessions_pb2_grpc.SessionServiceServicer):
    def __init__(self, sessions: Sessions):
        self.sessions = sessions

    def _view(self, row, transcript=(), events=()) -> pb.Session:
        return views.session(row, transcript, events, status=self.sessions.live_status(row))

    async def CreateSession(self, request, context):
        return self._view(await self.sessions.create(request))

    async def SearchSessions(self, request, context):
        hits, cursor = await self.sessions.search(request.q, request.limit, request.cursor)
        return pb.SearchSessionsResponse(next_cursor=cursor, hits=[pb.SearchHit(
            session_id=h["session_id"], session_name=h["session_name"], status=h["status"], seq=h["seq"],
            at=to_timestamp(h["at"]), role=h["role"], kind=h["kind"], snippet=h["snippet"]) for h in hits])

    async def ListSessions(self, request, context):
        rows, cursor = await self.sessions.page(request.limit, request.cursor, request.status, request.state,
                                                request.name, request.compute_id)
        return pb.ListSessionsResponse(sessions=[self._view(r) for r in rows], next_cursor=cursor)

    async def GetSession(self, request, context):
        since = request.since if request.HasField("since") else None
        row, transcript, events = await self.sessions.read(request.session_id, request.tail, since, request.full)
        return self._view(row, transcript, events)

    async def WatchSession(self, request, context):
        since = request.since if request.HasField("since") else None
        async for row, status, entries, events, seq in self.sessions.watch(request.session_id, since):
            yield pb.SessionChange(session_id=row.session_id, status=status, state=coarse_state(row),
                                   entries=[views.entry(e) for e in entries], events=[views.event(e) for e in events],
                                   transcript_count=seq)

    async def RunCode(self, request, context):
        row, result, duration = await self.sessions.run(request.session_id, request)
        return pb.RunCodeResponse(session_id=row.session_id, duration_ms=round(duration, 2), result=result,
                                  metrics=metrics.view(row))

    async def RunCodeStream(self, request, context):
        async for event in self.sessions.stream(request.session_id, request, context):
            yield event

    async def WriteSessionFile(self, request, context):
        return await self.sessions.file_call(request.session_id, "WriteFile", compute_pb2.WriteFileRequest(
            path=request.path, content=request.content, encoding=request.encoding))

    async def ReadSessionFile(self, request, context):
        return await self.sessions.file_call(request.session_id, "ReadFile", compute_pb2.ReadFileRequest(
            path=request.path, encoding=request.encoding))

    async def ListSessionFiles(self, request, context):
        return await self.sessions.file_call(request.session_id, "ListFiles",
                                             compute_pb2.ListFilesRequest(path=request.path))

    async def SessionFileExists(self, request, context):
        return await self.sessions.file_call(request.session_id, "FileExists",
                                             compute_pb2.FileExistsRequest(path=request.path))

    async def DeleteSessionFile(self, request, context):
        return await self.sessions.file_call(request.session_id, "DeleteFile",
                                             compute_pb2.DeleteFileRequest(path=request.path))

    async def ResolvePreview(self, request, context):
        return await self.sessions.resolve_preview(request.label)

    async def UploadSessionFile(self, request_iterator, context):
        return await self.sessions.upload(request_iterator)

    async def DownloadSessionFile(self, request, context):
        async for piece in self.sessions.download(request.session_id, request.path):
            yield piece

    async def RunLlm(self, request, context):
        async for piece in self.sessions.model_turn(request.session_id, request):
            if isinstance(piece, tuple):
                return piece[1]

    async def RunLlmStream(self, request, context):
        async for piece in self.sessions.model_turn(request.session_id, request):
            yield pb.LlmEvent(type="done", turn=piece[1]) if isinstance(piece, tuple) else \
                pb.LlmEvent(type="delta", text=piece)

    async def AppendInput(self, request, context):
        entry = pb.EntryInput(role=request.role, kind=request.kind, content=request.content,
                              metadata=request.metadata)
        if request.HasField("at"):
            entry.at.CopyFrom(request.at)
        return await self._append(request.session_id, [entry], context)

    async def AppendTranscript(self, request, context):
        return await self._append(request.session_id, list(request.entries), context)

    async def _append(self, session_id, entries, context):
        key = dict(context.invocation_metadata() or ()).get("idempotency-key", "")
        seqs = await self.sessions.append(session_id, entries, key)
        return pb.AppendResponse(session_id=session_id, seqs=seqs, transcript_count=seqs[-1])

    async def GetMetrics(self, request, context):
        row = await self.sessions.get(request.session_id)
        view = self._view(row)
        return pb.SessionMetricsView(session_id=row.session_id, provider=row.provider, status=view.status,
                                     routing=view.routing, metrics=view.metrics)

    async def PauseSession(self, request, context):
        return self._view(await self.sessions.pause(request.session_id))

    async def ResumeSession(self, request, context):
        return self._view(await self.sessions.resume(request))

    async def SpawnSession(self, request, context):
        return self._view(await self.sessions.spawn(request))

    async def SwapCompute(self, request, context):
        return self._view(await self.sessions.swap(request))

    async def TerminateSession(self, request, context):
        return self._view(await self.sessions.terminate(request.session_id))
