"""A stand-in for Modal: the two gRPC services the official `modal` SDK
speaks, served by grpclib from the SDK's own `modal_proto` descriptors as
Modal serves them:

- the API server (`modal.client.ModalClient`): tokens checked on every call
  (x-modal-token-id / x-modal-token-secret), environments, apps
  (AppGetOrCreate), images (ImageGetOrCreate, built on first sight and
  joined with ImageJoinStreaming; ImageFromId), and the sandboxes the SDK
  makes by default, its V2 ones (SandboxCreateV2, SandboxGetTaskIdV2,
  SandboxWaitV2, SandboxTerminateV2 with the short-lived auth token of
  AuthTokenGet and the sandbox's own token; the command router's address
  and JWT from SandboxGetCommandRouterAccess); rate limits as
  RESOURCE_EXHAUSTED carrying an `RPCRetryPolicy` detail, as the SDK reads
  them;
- the task command router each worker runs (`modal.task_command_router.
  TaskCommandRouter`): the JWT checked, commands started by exec id
  (TaskExecStart), their stdout/stderr read by byte offset
  (TaskExecStdioRead), stdin written by offset (TaskExecStdinWrite), exit
  waited for or polled, and filesystem snapshots (TaskSnapshotFilesystem)
  that become images new sandboxes start from.

Every other method answers UNIMPLEMENTED, so a call the adapter starts to
depend on shows up at once. Sandboxes are real processes in a folder each
(tests/fakes/vm.py)."""
import asyncio
import base64
import hashlib
import hmac
import json
import os
import pathlib
import secrets
import shutil
import time
import uuid

import grpclib.events
from grpclib import GRPCError, Status
from grpclib.server import Server
from modal_proto import api_grpc, api_pb2, task_command_router_grpc
from modal_proto import task_command_router_pb2 as sr_pb2

from tests.fakes.vm import VM

ENVIRONMENTS = ("main",)  # what a new Modal workspace has
BUILDER_VERSION = "2025.06"
RESULT = api_pb2.GenericResult


def _unimplemented(method: str):
    async def handler(self, stream) -> None:
        raise GRPCError(Status.UNIMPLEMENTED, f"{method} is not served by the stand-in")
    return handler


def servicer(base):
    """base (a grpclib service base class) with UNIMPLEMENTED for each
    method the subclass does not serve."""
    def complete(cls):
        for name in base.__abstractmethods__:
            if name not in cls.__dict__:
                setattr(cls, name, _unimplemented(name))
        cls.__abstractmethods__ = frozenset()
        return cls
    return complete


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Tokens:
    """The JWTs Modal issues (HS256 with an expiry): the client's auth token
    and the command router's, which names its task."""

    def __init__(self):
        self.key = os.urandom(32)

    def issue(self, lifetime_s: int = 3600, **claims) -> str:
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(json.dumps({**claims, "exp": int(time.time()) + lifetime_s}).encode())
        sig = _b64(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest())
        return f"{head}.{body}.{sig}"

    def check(self, token: str) -> dict:
        try:
            head, body, sig = token.split(".")
            good = hmac.compare_digest(sig, _b64(hmac.new(self.key, f"{head}.{body}".encode(),
                                                          hashlib.sha256).digest()))
            claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            good, claims = False, {}
        if not good or claims.get("exp", 0) < time.time():
            raise GRPCError(Status.UNAUTHENTICATED, "invalid or expired JWT")
        return claims


class Sandbox:
    def __init__(self, sandbox_id: str, app_id: str, vm: VM, definition: api_pb2.Sandbox, tags: dict):
        self.sandbox_id = sandbox_id
        self.task_id = "ta-" + uuid.uuid4().hex[:21] + "V"  # a V2 sandbox's task, as the SDK tells them apart
        self.token = secrets.token_urlsafe(24)
        self.app_id = app_id
        self.vm = vm
        self.definition = definition
        self.tags = tags
        self.result: api_pb2.GenericResult | None = None  # set when it ends
        self.ended = asyncio.Event()
        self.execs: dict[str, dict] = {}

    def end(self, status, exception: str = "") -> None:
        if self.result is None:
            self.result = RESULT(status=status, exception=exception)
            self.vm.remove()
            self.ended.set()


class FakeModal:
    def __init__(self, root: pathlib.Path, token_id: str, token_secret: str):
        self.root = root
        self.token_id, self.token_secret = token_id, token_secret
        self.environments = {name: "en-" + uuid.uuid4().hex[:22] for name in ENVIRONMENTS}
        self.apps: dict[tuple[str, str], str] = {}
        self.images: dict[str, dict] = {}  # image id -> {"built": bool, "root": snapshot folder or None}
        self.sandboxes: dict[str, Sandbox] = {}
        self.tasks: dict[str, Sandbox] = {}
        self.calls: list[str] = []
        self.rate_limit_next = 0
        self.fail_creates = 0
        self.tokens = Tokens()
        self.url = self.router_url = ""
        self._servers: list[Server] = []

    # -- the gates -------------------------------------------------------------
    def authenticated(self, stream) -> None:
        md = stream.metadata
        if md.get("x-modal-token-id") != self.token_id or md.get("x-modal-token-secret") != self.token_secret:
            raise GRPCError(Status.UNAUTHENTICATED, "Token ID or secret is invalid!")
        if self.rate_limit_next:
            self.rate_limit_next -= 1
            raise GRPCError(Status.RESOURCE_EXHAUSTED, "Too many requests",
                            [api_pb2.RPCRetryPolicy(retry_after_secs=0.2)])

    def sandbox(self, sandbox_id: str) -> Sandbox:
        sandbox = self.sandboxes.get(sandbox_id)
        if sandbox is None:
            raise GRPCError(Status.NOT_FOUND, f"Sandbox {sandbox_id} not found")
        return sandbox

    def running(self) -> int:
        return sum(s.result is None for s in self.sandboxes.values())

    # -- life ------------------------------------------------------------------
    async def start(self) -> "FakeModal":
        api, router = Server([API(self)]), Server([Router(self)])
        for server in (api, router):
            grpclib.events.listen(server, grpclib.events.RecvRequest, self._called)
        await api.start("127.0.0.1", 0)
        await router.start("127.0.0.1", 0)
        self._servers = [api, router]
        port = lambda server: server._server.sockets[0].getsockname()[1]  # noqa: E731
        self.url, self.router_url = f"http://127.0.0.1:{port(api)}", f"http://127.0.0.1:{port(router)}"
        return self

    async def _called(self, event: grpclib.events.RecvRequest) -> None:
        self.calls.append(event.method_name.rsplit("/", 1)[-1])

    async def close(self) -> None:
        for sandbox in self.sandboxes.values():
            sandbox.vm.stop()
        for server in self._servers:
            server.close()
            await server.wait_closed()


@servicer(api_grpc.ModalClientBase)
class API(api_grpc.ModalClientBase):
    """Modal's API server: what a sandbox's life needs of it."""

    def __init__(self, modal: FakeModal):
        self.modal = modal

    async def _request(self, stream):
        self.modal.authenticated(stream)
        return await stream.recv_message()

    def _environment(self, name: str) -> str:
        env = self.modal.environments.get(name or ENVIRONMENTS[0])
        if env is None:
            raise GRPCError(Status.NOT_FOUND, f"Environment '{name}' not found")
        return env

    async def EnvironmentGetOrCreate(self, stream) -> None:
        req = await self._request(stream)
        env = self._environment(req.deployment_name)
        await stream.send_message(api_pb2.EnvironmentGetOrCreateResponse(
            environment_id=env, metadata=api_pb2.EnvironmentMetadata(
                name=req.deployment_name or ENVIRONMENTS[0],
                settings=api_pb2.EnvironmentSettings(image_builder_version=BUILDER_VERSION))))

    async def AppGetOrCreate(self, stream) -> None:
        req = await self._request(stream)
        self._environment(req.environment_name)
        key = (req.environment_name or ENVIRONMENTS[0], req.app_name)
        if key not in self.modal.apps:
            if req.object_creation_type != api_pb2.OBJECT_CREATION_TYPE_CREATE_IF_MISSING:
                raise GRPCError(Status.NOT_FOUND, f"App '{req.app_name}' not found")
            self.modal.apps[key] = "ap-" + uuid.uuid4().hex[:22]
        await stream.send_message(api_pb2.AppGetOrCreateResponse(app_id=self.modal.apps[key]))

    async def ImageGetOrCreate(self, stream) -> None:
        req = await self._request(stream)
        image_id = "im-" + hashlib.sha256(req.image.SerializeToString(deterministic=True)).hexdigest()[:22]
        image = self.modal.images.setdefault(image_id, {"built": False, "root": None})
        # First sight: building (the SDK joins the build); later: the cache hit.
        result = RESULT(status=RESULT.GENERIC_STATUS_SUCCESS) if image["built"] else None
        await stream.send_message(api_pb2.ImageGetOrCreateResponse(image_id=image_id, result=result))

    async def ImageJoinStreaming(self, stream) -> None:
        req = await self._request(stream)
        image = self.modal.images.get(req.image_id)
        if image is None:
            raise GRPCError(Status.NOT_FOUND, f"Image {req.image_id} not found")
        image["built"] = True
        await stream.send_message(api_pb2.ImageJoinStreamingResponse(
            result=RESULT(status=RESULT.GENERIC_STATUS_SUCCESS), eof=True))

    async def AuthTokenGet(self, stream) -> None:
        await self._request(stream)
        await stream.send_message(api_pb2.AuthTokenGetResponse(
            token=self.modal.tokens.issue(sub=self.modal.token_id, lifetime_s=1200)))

    async def ImageFromId(self, stream) -> None:
        req = await self._request(stream)
        if req.image_id not in self.modal.images:
            raise GRPCError(Status.NOT_FOUND, f"Image {req.image_id} not found")
        await stream.send_message(api_pb2.ImageFromIdResponse(image_id=req.image_id))

    async def _sandbox_request(self, stream):
        """A V2 sandbox call: the token, the short-lived auth token of
        AuthTokenGet, and the sandbox's own token when the caller has one."""
        req = await self._request(stream)
        claims = self.modal.tokens.check(stream.metadata.get("x-modal-auth-token", ""))
        if claims.get("sub") != self.modal.token_id:
            raise GRPCError(Status.UNAUTHENTICATED, "auth token is not for this workspace")
        return req

    def _sandbox(self, stream, sandbox_id: str) -> Sandbox:
        sandbox = self.modal.sandbox(sandbox_id)
        token = stream.metadata.get("x-modal-sandbox-token")
        if token is not None and token != sandbox.token:
            raise GRPCError(Status.PERMISSION_DENIED, "sandbox token does not match")
        return sandbox

    def _router_access(self, sandbox: Sandbox) -> api_pb2.CommandRouterAccess:
        return api_pb2.CommandRouterAccess(url=self.modal.router_url,
                                           jwt=self.modal.tokens.issue(task_id=sandbox.task_id))

    async def SandboxCreateV2(self, stream) -> None:
        req = await self._sandbox_request(stream)
        if self.modal.fail_creates:
            self.modal.fail_creates -= 1
            raise GRPCError(Status.INTERNAL, "Internal error: could not schedule the sandbox")
        if req.app_id not in self.modal.apps.values():
            raise GRPCError(Status.NOT_FOUND, f"App {req.app_id} not found")
        image = self.modal.images.get(req.definition.image_id)
        if image is None or not (image["built"] or image["root"]):
            raise GRPCError(Status.FAILED_PRECONDITION, f"Image {req.definition.image_id} is not built")
        sandbox_id = "sb-" + uuid.uuid4().hex[:26]  # not a V1 id's 22 characters: the SDK routes on the shape
        folder = self.modal.root / sandbox_id
        if image["root"] is not None:  # a filesystem snapshot: the sandbox starts from its files
            shutil.copytree(image["root"], folder, symlinks=True)
        vm = VM(folder, req.definition.workdir or "/")
        sandbox = Sandbox(sandbox_id, req.app_id, vm, req.definition, {t.tag_name: t.tag_value for t in req.tags})
        self.modal.sandboxes[sandbox_id] = self.modal.tasks[sandbox.task_id] = sandbox
        await stream.send_message(api_pb2.SandboxCreateV2Response(
            sandbox_id=sandbox_id, task_id=sandbox.task_id, sandbox_token=sandbox.token,
            command_router_access=self._router_access(sandbox),
            metadata=api_pb2.SandboxHandleMetadata(app_id=req.app_id)))

    async def SandboxGetTaskIdV2(self, stream) -> None:
        req = await self._sandbox_request(stream)
        sandbox = self._sandbox(stream, req.sandbox_id)
        await stream.send_message(api_pb2.SandboxGetTaskIdResponse(task_id=sandbox.task_id,
                                                                    task_result=sandbox.result))

    async def SandboxWaitV2(self, stream) -> None:
        req = await self._sandbox_request(stream)
        sandbox = self._sandbox(stream, req.sandbox_id)
        if sandbox.result is None and req.timeout > 0:
            try:
                await asyncio.wait_for(sandbox.ended.wait(), req.timeout)
            except asyncio.TimeoutError:
                pass
        await stream.send_message(api_pb2.SandboxWaitResponse(
            result=sandbox.result, metadata=api_pb2.SandboxHandleMetadata(app_id=sandbox.app_id)))

    async def SandboxTerminateV2(self, stream) -> None:
        req = await self._sandbox_request(stream)
        sandbox = self._sandbox(stream, req.sandbox_id)
        existing = sandbox.result
        sandbox.end(RESULT.GENERIC_STATUS_TERMINATED)
        await stream.send_message(api_pb2.SandboxTerminateResponse(existing_result=existing))

    async def SandboxGetCommandRouterAccess(self, stream) -> None:
        req = await self._sandbox_request(stream)
        sandbox = self.modal.tasks.get(req.task_id) if req.task_id else self._sandbox(stream, req.sandbox_id)
        if sandbox is None or sandbox.result is not None:
            raise GRPCError(Status.NOT_FOUND, "Sandbox has finished")
        access = self._router_access(sandbox)
        await stream.send_message(api_pb2.SandboxGetCommandRouterAccessResponse(url=access.url, jwt=access.jwt))


@servicer(task_command_router_grpc.TaskCommandRouterBase)
class Router(task_command_router_grpc.TaskCommandRouterBase):
    """The worker's task command router: commands in a running sandbox."""

    def __init__(self, modal: FakeModal):
        self.modal = modal

    async def _request(self, stream):
        req = await stream.recv_message()
        claims = self.modal.tokens.check(stream.metadata.get("authorization", "").removeprefix("Bearer "))
        if claims.get("task_id") != req.task_id:
            raise GRPCError(Status.PERMISSION_DENIED, "JWT is not for this task")
        sandbox = self.modal.tasks.get(req.task_id)
        if sandbox is None or sandbox.result is not None:
            raise GRPCError(Status.NOT_FOUND, f"Task {req.task_id} not found")
        return req, sandbox

    def _exec(self, sandbox: Sandbox, exec_id: str) -> dict:
        run = sandbox.execs.get(exec_id)
        if run is None:
            raise GRPCError(Status.NOT_FOUND, f"Exec {exec_id} not found")
        return run

    async def TaskExecStart(self, stream) -> None:
        req, sandbox = await self._request(stream)
        if req.exec_id not in sandbox.execs:  # the exec id is the idempotency key
            env = {e.key: e.value for e in req.env}
            process = await sandbox.vm.spawn(list(req.command_args), env=env, cwd=req.workdir, stdin=True)
            sandbox.execs[req.exec_id] = {"process": process, "stdin": 0}
            if req.timeout_secs:
                asyncio.get_running_loop().call_later(req.timeout_secs, process.kill)
        await stream.send_message(sr_pb2.TaskExecStartResponse())

    async def TaskExecStdioRead(self, stream) -> None:
        req, sandbox = await self._request(stream)
        run = self._exec(sandbox, req.exec_id)
        kind = "stderr" if req.file_descriptor == sr_pb2.TASK_EXEC_STDIO_FILE_DESCRIPTOR_STDERR else "stdout"
        async for data in run["process"].read(kind, req.offset):
            await stream.send_message(sr_pb2.TaskExecStdioReadResponse(data=data))

    async def TaskExecStdinWrite(self, stream) -> None:
        req, sandbox = await self._request(stream)
        run = self._exec(sandbox, req.exec_id)
        stdin = run["process"].stdin
        if req.offset + len(req.data) > run["stdin"]:  # a retried write is skipped, a partly new one trimmed
            stdin.write(req.data[max(0, run["stdin"] - req.offset):])
            run["stdin"] = req.offset + len(req.data)
        if req.eof and not stdin.is_closing():
            stdin.close()
        try:
            await stdin.drain()
        except ConnectionError:
            raise GRPCError(Status.FAILED_PRECONDITION, "the process has closed its stdin") from None
        await stream.send_message(sr_pb2.TaskExecStdinWriteResponse())

    async def TaskExecWait(self, stream) -> None:
        req, sandbox = await self._request(stream)
        code = await self._exec(sandbox, req.exec_id)["process"].wait()
        await stream.send_message(_exit(code))

    async def TaskExecPoll(self, stream) -> None:
        req, sandbox = await self._request(stream)
        process = self._exec(sandbox, req.exec_id)["process"]
        await stream.send_message(sr_pb2.TaskExecPollResponse(**_exit_fields(process.exit_code))
                                  if process.exit_code is not None else sr_pb2.TaskExecPollResponse())

    async def TaskSnapshotFilesystem(self, stream) -> None:
        req, sandbox = await self._request(stream)
        image_id = "im-" + uuid.uuid4().hex[:22]
        folder = self.modal.root / "images" / image_id
        sandbox.vm.copy_to(folder)
        self.modal.images[image_id] = {"built": True, "root": folder}
        await stream.send_message(sr_pb2.TaskSnapshotFilesystemResponse(image_id=image_id))


def _exit_fields(code: int) -> dict:
    return {"signal": code - 128} if code > 128 else {"code": code}


def _exit(code: int) -> sr_pb2.TaskExecWaitResponse:
    return sr_pb2.TaskExecWaitResponse(**_exit_fields(code))
