"""A stand-in for E2B: its control-plane REST API (e2b-dev/E2B spec/openapi.yml,
and the official `e2b` SDK's generated client for what it calls: POST
/v2/sandboxes, POST /v2/sandboxes/{id}/connect, POST /sandboxes/{id}/pause,
DELETE /sandboxes/{id}; X-API-KEY; `{code, message}` errors) and envd, the
agent in each sandbox (spec/envd/process and filesystem protos, served over
Connect-RPC by the same `connectrpc` library and generated service the SDK
speaks; GET/POST /files and /health over HTTP), reached through one sandbox
URL with the E2b-Sandbox-Id header, as E2B's sandbox proxy routes it.

Sandboxes are real processes in a folder each (tests/fakes/vm.py); pause
stops them and keeps the folder; connect resumes; the envd access token is
checked on every envd call."""
import asyncio
import contextlib
import datetime
import os
import secrets
import shutil
import stat

import uvicorn
from aiohttp import web
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from e2b.envd.filesystem import filesystem_connect, filesystem_pb
from e2b.envd.process import process_connect, process_pb
from protobuf import Oneof
from protobuf.wkt.google.protobuf.timestamp_pb import Timestamp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.vm import VM, serve

HOME = "/home/user"
ENVD_VERSION = "0.4.1"  # default user; multipart uploads (what the SDK does for this version)


def _api_error(status: int, message: str) -> web.Response:
    return web.json_response({"code": status, "message": message}, status=status)


class FakeE2B:
    def __init__(self, root, api_key: str):
        self.root = root
        self.api_key = api_key
        self.sandboxes: dict[str, dict] = {}  # id -> {state, token, vm, ...}
        self.requests: list[tuple[str, str]] = []
        self.rate_limit_next = 0
        self.fail_creates = 0
        self.api_url = self.sandbox_url = ""
        self._runner: web.AppRunner | None = None
        self._envd: uvicorn.Server | None = None
        self._envd_task: asyncio.Task | None = None

    # -- control plane -------------------------------------------------------
    @web.middleware
    async def gate(self, request: web.Request, handler):
        self.requests.append((request.method, request.path))
        if request.headers.get("X-API-KEY") != self.api_key:
            return _api_error(401, "Invalid API key, it must start with 'e2b_' prefix")
        if self.rate_limit_next:
            self.rate_limit_next -= 1
            return _api_error(429, "Rate limit exceeded, please try again later.")
        return await handler(request)

    def _found(self, request: web.Request) -> dict:
        sandbox = self.sandboxes.get(request.match_info["sandboxID"])
        if sandbox is None or sandbox["state"] == "killed":
            raise web.HTTPNotFound(text='{"code": 404, "message": "sandbox not found"}', content_type="application/json")
        return sandbox

    def _sandbox_json(self, sandbox: dict) -> dict:
        return {"templateID": sandbox["template"], "sandboxID": sandbox["id"], "clientID": "fake-client",
                "envdVersion": ENVD_VERSION, "envdAccessToken": sandbox["token"], "domain": None}

    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(body.get("templateID"), str):
            return _api_error(400, "templateID is required")
        timeout = body.get("timeout", 300)
        if not isinstance(timeout, int) or not 0 < timeout <= 86_400:
            return _api_error(400, "timeout must be between 1 and 86400 seconds")
        if self.fail_creates:
            self.fail_creates -= 1
            return _api_error(500, "Failed to place sandbox")
        sandbox_id = "i" + secrets.token_hex(10)
        self.sandboxes[sandbox_id] = {
            "id": sandbox_id, "template": body["templateID"], "state": "running", "token": secrets.token_hex(16),
            "vm": VM(self.root / sandbox_id, HOME), "timeout": timeout, "metadata": body.get("metadata") or {},
            "internet": body.get("allow_internet_access", True), "env": body.get("envVars") or {}}
        return web.json_response(self._sandbox_json(self.sandboxes[sandbox_id]), status=201)

    async def connect(self, request: web.Request) -> web.Response:
        sandbox = self._found(request)
        resumed = sandbox["state"] == "paused"
        sandbox["state"] = "running"
        return web.json_response(self._sandbox_json(sandbox), status=201 if resumed else 200)

    async def set_timeout(self, request: web.Request) -> web.Response:
        sandbox = self._found(request)
        timeout = (await request.json()).get("timeout")
        if not isinstance(timeout, int) or not 0 <= timeout <= 86_400:
            return _api_error(400, "timeout must be between 0 and 86400 seconds")
        sandbox["timeout"] = timeout
        sandbox["timeouts_set"] = sandbox.get("timeouts_set", 0) + 1
        return web.Response(status=204)

    async def pause(self, request: web.Request) -> web.Response:
        sandbox = self._found(request)
        if sandbox["state"] == "paused":
            return _api_error(409, "sandbox is already paused")
        sandbox["vm"].stop()
        sandbox["state"] = "paused"
        return web.Response(status=204)

    async def kill(self, request: web.Request) -> web.Response:
        sandbox = self._found(request)
        sandbox["vm"].remove()
        sandbox["state"] = "killed"
        return web.Response(status=204)

    # -- envd ------------------------------------------------------------------
    def _envd_sandbox(self, headers) -> dict:
        """The sandbox an envd call is for, as the proxy routes it; its token checked."""
        sandbox = self.sandboxes.get(headers.get("e2b-sandbox-id", ""))
        if sandbox is None or sandbox["state"] != "running":
            raise LookupError("sandbox not found")
        if headers.get("x-access-token") != sandbox["token"]:
            raise PermissionError("invalid access token")
        return sandbox

    def _rpc_sandbox(self, ctx) -> dict:
        try:
            return self._envd_sandbox(ctx.request_headers)
        except LookupError:
            raise ConnectError(Code.UNAVAILABLE, "sandbox not found") from None
        except PermissionError:
            raise ConnectError(Code.UNAUTHENTICATED, "invalid access token") from None

    @staticmethod
    def _path(sandbox: dict, path: str):
        target = sandbox["vm"].path(path, HOME)
        if target is None:
            raise ConnectError(Code.PERMISSION_DENIED, f"path {path} is outside the sandbox's folder here")
        return target

    def _entry(self, sandbox: dict, path: str, target) -> filesystem_pb.EntryInfo:
        info = target.lstat()
        kind = filesystem_pb.FileType.DIRECTORY if stat.S_ISDIR(info.st_mode) else \
            filesystem_pb.FileType.FILE
        modified = datetime.datetime.fromtimestamp(info.st_mtime, datetime.timezone.utc)
        absolute = os.path.normpath(path if path.startswith("/") else os.path.join(HOME, path))
        return filesystem_pb.EntryInfo(name=target.name, type=kind, path=absolute, size=info.st_size,
                                       mode=info.st_mode & 0o7777, permissions=stat.filemode(info.st_mode),
                                       owner="user", group="user", modified_time=Timestamp.from_datetime(modified))

    def envd_app(self):
        fake = self

        class ProcessService(process_connect.Process):
            async def start(self, request, ctx):
                sandbox = fake._rpc_sandbox(ctx)
                config = request.process
                env = {**sandbox["env"], **dict(config.envs or {})}
                process = await sandbox["vm"].spawn([config.cmd, *config.args], env=env, cwd=config.cwd or HOME)
                yield process_pb.StartResponse(event=process_pb.ProcessEvent(event=Oneof(
                    field="start", value=process_pb.ProcessEvent.StartEvent(pid=process.process.pid))))
                async for kind, text in process.follow():
                    data = process_pb.ProcessEvent.DataEvent(output=Oneof(field=kind, value=text.encode()))
                    yield process_pb.StartResponse(event=process_pb.ProcessEvent(event=Oneof(field="data", value=data)))
                code = await process.wait()
                end = process_pb.ProcessEvent.EndEvent(exit_code=code, exited=code < 128,
                                                       status=f"exit status {code}" if code < 128 else "signal: killed")
                yield process_pb.StartResponse(event=process_pb.ProcessEvent(event=Oneof(field="end", value=end)))

        class FilesystemService(filesystem_connect.Filesystem):
            async def stat(self, request, ctx):
                sandbox = fake._rpc_sandbox(ctx)
                target = fake._path(sandbox, request.path)
                if not target.exists():
                    raise ConnectError(Code.NOT_FOUND, f"file not found: {request.path}")
                return filesystem_pb.StatResponse(entry=fake._entry(sandbox, request.path, target))

            async def list_dir(self, request, ctx):
                sandbox = fake._rpc_sandbox(ctx)
                target = fake._path(sandbox, request.path)
                if not target.is_dir():
                    raise ConnectError(Code.NOT_FOUND, f"directory not found: {request.path}")
                return filesystem_pb.ListDirResponse(entries=[
                    fake._entry(sandbox, os.path.join(request.path, child.name), child)
                    for child in sorted(target.iterdir())])

            async def remove(self, request, ctx):
                sandbox = fake._rpc_sandbox(ctx)
                target = fake._path(sandbox, request.path)
                if not target.exists():
                    raise ConnectError(Code.NOT_FOUND, f"file not found: {request.path}")
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink()
                return filesystem_pb.RemoveResponse()

            async def move(self, request, ctx):
                sandbox = fake._rpc_sandbox(ctx)
                source, destination = fake._path(sandbox, request.source), fake._path(sandbox, request.destination)
                if not source.exists():
                    raise ConnectError(Code.NOT_FOUND, f"file not found: {request.source}")
                destination.parent.mkdir(parents=True, exist_ok=True)
                source.replace(destination)
                return filesystem_pb.MoveResponse(entry=fake._entry(sandbox, request.destination, destination))

            async def make_dir(self, request, ctx):
                sandbox = fake._rpc_sandbox(ctx)
                target = fake._path(sandbox, request.path)
                if target.exists():
                    raise ConnectError(Code.ALREADY_EXISTS, f"directory already exists: {request.path}")
                target.mkdir(parents=True)
                return filesystem_pb.MakeDirResponse(entry=fake._entry(sandbox, request.path, target))

        def http_sandbox(request: Request):
            try:
                return fake._envd_sandbox(request.headers), None
            except LookupError:
                return None, JSONResponse({"code": 502, "message": "The sandbox was not found"}, status_code=502)
            except PermissionError:
                return None, JSONResponse({"code": 401, "message": "invalid access token"}, status_code=401)

        async def files(request: Request):
            sandbox, refused = http_sandbox(request)
            if refused:
                return refused
            if request.method == "GET":
                target = sandbox["vm"].path(request.query_params.get("path", ""), HOME)
                if target is None or not target.is_file():
                    return JSONResponse({"code": 404, "message": "path not found"}, status_code=404)
                return Response(target.read_bytes(), media_type="application/octet-stream")
            written = []
            async with request.form(max_part_size=64 << 20) as form:
                for _, upload in form.multi_items():
                    path = request.query_params.get("path") or upload.filename
                    target = sandbox["vm"].path(path, HOME)
                    if target is None:
                        return JSONResponse({"code": 400, "message": f"invalid path {path}"}, status_code=400)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(await upload.read())
                    written.append({"path": os.path.normpath(os.path.join(HOME, path)), "name": target.name,
                                    "type": "file"})
            return JSONResponse(written)

        async def health(request: Request):
            return Response(status_code=204)

        http = Starlette(routes=[Route("/files", files, methods=["GET", "POST"]), Route("/health", health)])
        rpc = {"/process.Process/": process_connect.ProcessASGIApplication(ProcessService()),
               "/filesystem.Filesystem/": filesystem_connect.FilesystemASGIApplication(FilesystemService())}

        async def app(scope, receive, send):
            for prefix, handler in rpc.items():
                if scope["type"] == "http" and scope["path"].startswith(prefix):
                    return await handler(scope, receive, send)
            return await http(scope, receive, send)
        return app

    # -- life ------------------------------------------------------------------
    async def start(self) -> "FakeE2B":
        app = web.Application(middlewares=[self.gate])
        app.add_routes([web.post("/v2/sandboxes", self.create),
                        web.post("/v2/sandboxes/{sandboxID}/connect", self.connect),
                        web.post("/sandboxes/{sandboxID}/pause", self.pause),
                        web.post("/sandboxes/{sandboxID}/timeout", self.set_timeout),
                        web.delete("/sandboxes/{sandboxID}", self.kill)])
        self._runner, self.api_url = await serve(app)
        self._envd = uvicorn.Server(uvicorn.Config(self.envd_app(), host="127.0.0.1", port=0, log_level="warning",
                                                   lifespan="off"))
        self._envd_task = asyncio.create_task(self._envd.serve())
        while not self._envd.started:
            await asyncio.sleep(0.01)
        port = self._envd.servers[0].sockets[0].getsockname()[1]
        self.sandbox_url = f"http://127.0.0.1:{port}"
        return self

    def running(self) -> int:
        return sum(s["state"] == "running" for s in self.sandboxes.values())

    async def close(self) -> None:
        for sandbox in self.sandboxes.values():
            sandbox["vm"].stop()
        if self._envd is not None:
            self._envd.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._envd_task, 5)
        if self._runner is not None:
            await self._runner.cleanup()
