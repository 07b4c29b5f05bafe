"""ComputeService RPCs: validate, call the domain, shape the reply."""
import asyncio
import base64
import binascii
import json

from google.api import httpbody_pb2
from google.protobuf import json_format, struct_pb2

from cerver.v2 import compute_pb2 as pb
from cerver.v2 import compute_pb2_grpc
from servicekit import auth, config, errors
from servicekit.clock import to_timestamp
from services.compute.domain import Computes, is_online


class ComputeHandlers(compute_pb2_grpc.ComputeServiceServicer):
    def __init__(self, computes: Computes):
        self.computes = computes

    async def _compute(self, row, load: dict[str, int] | None = None) -> pb.Compute:
        caps = pb.ComputeCapabilities()
        json_format.ParseDict(json.loads(row.capabilities_json), caps, ignore_unknown_fields=True)
        return pb.Compute(compute_id=row.compute_id, name=row.name, provider=row.provider, kind=row.kind,
                          status="online" if is_online(row) else "offline", capabilities=caps,
                          last_heartbeat_at=to_timestamp(row.last_heartbeat_at), created_at=to_timestamp(row.created_at),
                          active_sandboxes=(load if load is not None else await self.computes.load())
                          .get(row.compute_id, 0),
                          heartbeat_window_s=row.heartbeat_window_s)

    async def ListComputes(self, request, context):
        rows, load = await asyncio.gather(self.computes.visible(auth.account_id()), self.computes.load())
        return pb.ListComputesResponse(computes=[await self._compute(r, load) for r in rows])

    async def GetCompute(self, request, context):
        return await self._compute(await self.computes.get(auth.account_id(), request.compute_id))

    async def RegisterCompute(self, request, context):
        caps = json_format.MessageToDict(request.capabilities, preserving_proto_field_name=True)
        row = await self.computes.register(auth.account_id(), request.name, caps, request.compute_id)
        return await self._compute(row)

    async def HeartbeatCompute(self, request, context):
        return await self._compute(await self.computes.heartbeat(auth.account_id(), request.compute_id))

    async def UnregisterCompute(self, request, context):
        await self.computes.unregister(auth.account_id(), request.compute_id)
        return pb.UnregisterComputeResponse(compute_id=request.compute_id, unregistered=True)

    async def CreateSandbox(self, request, context):
        row = await self.computes.create_sandbox(
            auth.account_id(), request.compute_id, request.provider, request.requirements,
            session_id=request.session_id, workspace_id=request.workspace_id)
        return pb.Sandbox(sandbox_id=row.sandbox_id, compute_id=row.compute_id, provider=row.provider,
                          status=row.status, runtime=row.runtime, workspace_id=row.workspace_id, network=row.network,
                          created_at=to_timestamp(row.created_at), provision_ms=row.provision_ms)

    def _events(self, request):
        timeout = request.timeout if request.HasField("timeout") else config.RUN_TIMEOUT_S
        return self.computes.run(auth.account_id(), request.sandbox_id, request.runtime, request.code,
                                 request.stdin, dict(request.env), timeout)

    @staticmethod
    async def _collect(sandbox_id: str, events) -> pb.RunSandboxResponse:
        out = pb.RunSandboxResponse(sandbox_id=sandbox_id)
        stdout, stderr = [], []
        async for event in events:
            if event.type == "stdout":
                stdout.append(event.data)
            elif event.type == "stderr":
                stderr.append(event.data)
            elif event.type == "exit":
                out.exit_code, out.timed_out = event.exit_code, event.timed_out
                out.truncated, out.duration_ms, out.reason = event.truncated, event.duration_ms, event.reason
        out.stdout, out.stderr = "".join(stdout), "".join(stderr)
        return out

    async def RunSandbox(self, request, context):
        return await self._collect(request.sandbox_id, self._events(request))

    async def RunSandboxStream(self, request, context):
        opened = False
        async for event in self._events(request):
            if event.type == "started" and not opened:
                # Initial metadata marks the stream open: the call is on its way.
                await context.send_initial_metadata(())
                opened = True
                continue
            yield pb.SandboxOutput(type=event.type, data=event.data, exit_code=event.exit_code,
                                   timed_out=event.timed_out, truncated=event.truncated,
                                   duration_ms=event.duration_ms, reason=event.reason)

    async def InstallPackage(self, request, context):
        packages = [*request.packages, *([request.package] if request.package else [])]
        events = self.computes.install(auth.account_id(), request.sandbox_id, request.manager or "pip", packages)
        ran = await self._collect(request.sandbox_id, events)
        out = pb.InstallPackageResponse(success=ran.exit_code == 0 and not ran.timed_out)
        out.MergeFromString(ran.SerializeToString())  # the same fields, numbered alike
        return out

    async def RunCell(self, request, context):
        timeout = request.timeout if request.HasField("timeout") else config.RUN_TIMEOUT_S
        result = await self.computes.run_cell(auth.account_id(), request.sandbox_id, request.code, timeout)
        result.sandbox_id = request.sandbox_id
        return result

    async def RestartContext(self, request, context):
        await self.computes.restart_context(auth.account_id(), request.sandbox_id)
        return pb.RestartContextResponse(sandbox_id=request.sandbox_id, restarted=True)

    async def WriteFile(self, request, context):
        if request.encoding not in ("", "utf-8", "base64"):
            raise errors.invalid("encoding must be utf-8 or base64", "encoding")
        try:
            data = base64.b64decode(request.content, validate=True) if request.encoding == "base64" \
                else request.content.encode()
        except binascii.Error:
            raise errors.invalid("content is not valid base64", "content") from None
        size = await self.computes.write_file(auth.account_id(), request.sandbox_id, request.path, data,
                                              request.offset)
        return pb.FileInfo(path=request.path, size=size)

    async def ReadFile(self, request, context):
        data = await self.computes.read_file(auth.account_id(), request.sandbox_id, request.path, request.offset,
                                             request.length)
        if request.encoding == "base64":
            return pb.FileContent(path=request.path, content=base64.b64encode(data).decode(), encoding="base64",
                                  size=len(data))
        try:
            return pb.FileContent(path=request.path, content=data.decode(), encoding="utf-8", size=len(data))
        except UnicodeDecodeError:
            return pb.FileContent(path=request.path, content=base64.b64encode(data).decode(), encoding="base64",
                                  size=len(data))

    async def MoveFile(self, request, context):
        size = await self.computes.move_file(auth.account_id(), request.sandbox_id, request.from_path,
                                             request.to_path)
        return pb.FileInfo(path=request.to_path, size=size)

    async def UploadFile(self, request_iterator, context):
        first = await anext(aiter(request_iterator), None)
        if first is None:
            raise errors.invalid("an upload names its sandbox and path in its first message", "path")

        async def pieces():
            yield first.file.data
            async for more in request_iterator:
                yield more.file.data

        size = await self.computes.upload(auth.account_id(), first.sandbox_id, first.path, pieces())
        return pb.FileInfo(path=first.path, size=size)

    async def DownloadFile(self, request, context):
        async for piece in self.computes.download(auth.account_id(), request.sandbox_id, request.path):
            yield httpbody_pb2.HttpBody(content_type="application/octet-stream", data=piece)

    async def ListFiles(self, request, context):
        return await self.computes.file_op(auth.account_id(), request.sandbox_id, "list_files", request.path)

    async def FileExists(self, request, context):
        return await self.computes.file_op(auth.account_id(), request.sandbox_id, "file_exists", request.path)

    async def DeleteFile(self, request, context):
        await self.computes.file_op(auth.account_id(), request.sandbox_id, "delete_file", request.path)
        return pb.DeleteFileResponse(path=request.path, deleted=True)

    async def GetState(self, request, context):
        state = await self.computes.get_state(auth.account_id(), request.sandbox_id)
        return pb.SandboxState(sandbox_id=request.sandbox_id, state=_struct(state))

    async def SetState(self, request, context):
        state = json_format.MessageToDict(request.state)
        await self.computes.set_state(auth.account_id(), request.sandbox_id, state)
        return pb.SandboxState(sandbox_id=request.sandbox_id, state=request.state)

    async def DeleteSandbox(self, request, context):
        kept = await self.computes.delete_sandbox(auth.account_id(), request.sandbox_id, request.keep_workspace)
        return pb.DeleteSandboxResponse(sandbox_id=request.sandbox_id, deleted=True, workspace_kept=kept)

    async def ResolveNode(self, request, context):
        return pb.NodeAddress(compute_id=request.compute_id,
                              address=await self.computes.node_address(request.compute_id),
                              preview_address=await self.computes.preview_address(request.compute_id))


def _struct(value: dict) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    out.update(value)
    return out
