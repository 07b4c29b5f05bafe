"""A stand-in for Daytona: its API (the official `daytona` SDK's generated
clients, daytona_api_client and daytona_toolbox_api_client, give the paths
and models: POST /sandbox, GET|DELETE /sandbox/{id}, POST .../start and
.../stop, Bearer API keys, NestJS-style `{statusCode, message, error}`
errors) and the toolbox each sandbox serves through its toolboxProxyUrl
(process sessions with commands run asynchronously and their logs followed
over a WebSocket framed with \\x01\\x01\\x01 / \\x02\\x02\\x02 as the SDK
demultiplexes them; files listed, stat'ed, moved, deleted, uploaded as
multipart `files[i].path`/`files[i].file` and downloaded as a multipart
response of `file` or `error` parts).

Sandboxes are real processes in a folder each (tests/fakes/vm.py); stop
keeps the folder, start brings it back."""
import datetime
import json
import pathlib
import shutil
import uuid

import aiohttp
from aiohttp import web

from tests.fakes.vm import VM, serve

WORKDIR = "/home/daytona"
STDOUT, STDERR = b"\x01\x01\x01", b"\x02\x02\x02"


REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict", 429: "Too Many Requests",
           500: "Internal Server Error"}


def _error(status: int, message: str, **headers) -> web.Response:
    return web.json_response({"statusCode": status, "message": message, "error": REASONS.get(status, "Error")},
                             status=status, headers=headers)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


class FakeDaytona:
    def __init__(self, root: pathlib.Path, api_key: str):
        self.root = root
        self.api_key = api_key
        self.sandboxes: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        self.rate_limit_next = 0
        self.fail_creates = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    # -- plumbing --------------------------------------------------------------
    @web.middleware
    async def gate(self, request: web.Request, handler):
        self.requests.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Invalid credentials")
        if self.rate_limit_next and not request.path.startswith("/toolbox/"):
            self.rate_limit_next -= 1
            return _error(429, "ThrottlerException: Too Many Requests", **{"Retry-After": "1"})
        return await handler(request)

    def _sandbox(self, request: web.Request) -> dict:
        sandbox = self.sandboxes.get(request.match_info["id"])
        if sandbox is None or sandbox["dto"]["state"] == "destroyed":
            raise web.HTTPNotFound(text=json.dumps({"statusCode": 404, "message": "Sandbox not found",
                                                    "error": "Not Found"}), content_type="application/json")
        return sandbox

    def _started(self, request: web.Request) -> dict:
        sandbox = self._sandbox(request)
        if sandbox["dto"]["state"] != "started":
            raise web.HTTPBadRequest(text=json.dumps({"statusCode": 400, "message": "Sandbox is not started",
                                                      "error": "Bad Request"}), content_type="application/json")
        return sandbox

    # -- the API ----------------------------------------------------------------
    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.fail_creates:
            self.fail_creates -= 1
            return _error(500, "Failed to create sandbox: no runner available")
        sandbox_id = str(uuid.uuid4())
        dto = {"id": sandbox_id, "organizationId": "org-fake", "name": body.get("name") or sandbox_id,
               "snapshot": body.get("snapshot") or "daytonaio/sandbox:latest", "user": body.get("user") or "daytona",
               "env": body.get("env") or {}, "labels": body.get("labels") or {}, "public": bool(body.get("public")),
               "networkBlockAll": bool(body.get("networkBlockAll")), "kvm": False,
               "target": body.get("target") or "us", "cpu": 1, "gpu": 0, "memory": 1, "disk": 3,
               "state": "started", "desiredState": "started", "autoStopInterval": body.get("autoStopInterval", 15),
               "createdAt": _now(), "updatedAt": _now(), "toolboxProxyUrl": f"{self.url}/toolbox"}
        self.sandboxes[sandbox_id] = {"dto": dto, "vm": VM(self.root / sandbox_id, WORKDIR), "sessions": {},
                                      "commands": {}}
        return web.json_response(dto)

    async def get(self, request: web.Request) -> web.Response:
        return web.json_response(self._sandbox(request)["dto"])

    async def start(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        sandbox["dto"].update(state="started", desiredState="started", updatedAt=_now())
        return web.json_response(sandbox["dto"])

    async def stop(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        sandbox["vm"].stop()
        sandbox["sessions"].clear()  # sessions are processes: they do not survive a stop
        sandbox["dto"].update(state="stopped", desiredState="stopped", updatedAt=_now())
        return web.json_response(sandbox["dto"])

    async def delete(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        sandbox["vm"].remove()
        sandbox["dto"].update(state="destroyed", desiredState="destroyed", updatedAt=_now())
        return web.json_response(sandbox["dto"])

    # -- the toolbox: process sessions -------------------------------------------
    async def create_session(self, request: web.Request) -> web.Response:
        sandbox = self._started(request)
        session_id = (await request.json()).get("sessionId", "")
        if not session_id:
            return _error(400, "sessionId is required")
        if session_id in sandbox["sessions"]:
            return _error(409, f"session {session_id} already exists")
        sandbox["sessions"][session_id] = {"commands": []}
        return web.Response(status=201)

    async def session_exec(self, request: web.Request) -> web.Response:
        sandbox = self._started(request)
        session = sandbox["sessions"].get(request.match_info["session"])
        if session is None:
            return _error(404, "session not found")
        body = await request.json()
        process = await sandbox["vm"].spawn(["bash", "-c", body["command"]])
        command_id = str(uuid.uuid4())
        sandbox["commands"][command_id] = {"command": body["command"], "process": process}
        session["commands"].append(command_id)
        if body.get("runAsync") or body.get("async"):
            return web.json_response({"cmdId": command_id})
        code = await process.wait()
        out = "".join(t for k, t in process.output if k == "stdout")
        err = "".join(t for k, t in process.output if k == "stderr")
        return web.json_response({"cmdId": command_id, "exitCode": code, "output": out + err, "stdout": out,
                                  "stderr": err})

    def _command(self, request: web.Request) -> dict:
        sandbox = self._started(request)
        if request.match_info["session"] not in sandbox["sessions"]:
            raise web.HTTPNotFound(text=json.dumps({"statusCode": 404, "message": "session not found",
                                                    "error": "Not Found"}), content_type="application/json")
        found = sandbox["commands"].get(request.match_info["command"])
        if found is None:
            raise web.HTTPNotFound(text=json.dumps({"statusCode": 404, "message": "command not found",
                                                    "error": "Not Found"}), content_type="application/json")
        return found

    async def get_command(self, request: web.Request) -> web.Response:
        found = self._command(request)
        return web.json_response({"id": request.match_info["command"], "command": found["command"],
                                  "exitCode": found["process"].exit_code})

    async def command_logs(self, request: web.Request) -> web.StreamResponse:
        found = self._command(request)
        if request.query.get("follow") != "true":
            return web.Response(text="".join(t for _, t in found["process"].output))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for kind, text in found["process"].follow():
            await ws.send_bytes((STDOUT if kind == "stdout" else STDERR) + text.encode())
        await ws.close(code=aiohttp.WSCloseCode.OK)
        return ws

    # -- the toolbox: files ------------------------------------------------------
    def _path(self, sandbox: dict, path: str) -> pathlib.Path:
        target = sandbox["vm"].path(path)
        if target is None:
            raise web.HTTPBadRequest(text=json.dumps({"statusCode": 400, "message": f"invalid path {path}",
                                                      "error": "Bad Request"}), content_type="application/json")
        return target

    @staticmethod
    def _info(target: pathlib.Path) -> dict:
        st = target.stat()
        modified = datetime.datetime.fromtimestamp(st.st_mtime, datetime.timezone.utc)
        return {"name": target.name, "isDir": target.is_dir(), "size": st.st_size, "mode": oct(st.st_mode & 0o777),
                "permissions": oct(st.st_mode & 0o777), "owner": "daytona", "group": "daytona",
                "modTime": str(modified), "modifiedAt": modified.isoformat()}

    async def list_files(self, request: web.Request) -> web.Response:
        sandbox = self._started(request)
        target = self._path(sandbox, request.query.get("path", ""))
        if not target.is_dir():
            return _error(404, "directory not found")
        return web.json_response([self._info(child) for child in sorted(target.iterdir())])

    async def file_info(self, request: web.Request) -> web.Response:
        sandbox = self._started(request)
        target = self._path(sandbox, request.query.get("path", ""))
        if not target.exists():
            return _error(404, "file not found")
        return web.json_response(self._info(target))

    async def delete_file(self, request: web.Request) -> web.Response:
        sandbox = self._started(request)
        target = self._path(sandbox, request.query.get("path", ""))
        if not target.exists():
            return _error(404, "file not found")
        if target.is_dir():
            if request.query.get("recursive") != "true":
                return _error(400, "directory: delete it recursively")
            shutil.rmtree(target)
        else:
            target.unlink()
        return web.Response(status=204)

    async def move_file(self, request: web.Request) -> web.Response:
        sandbox = self._started(request)
        source = self._path(sandbox, request.query.get("source", ""))
        destination = self._path(sandbox, request.query.get("destination", ""))
        if not source.exists():
            return _error(404, "file not found")
        destination.parent.mkdir(parents=True, exist_ok=True)
        source.replace(destination)
        return web.Response(status=200)

    async def bulk_upload(self, request: web.Request) -> web.Response:
        sandbox = self._started(request)
        reader = await request.multipart()
        paths: dict[str, str] = {}
        async for part in reader:
            index = part.name.split("]")[0] + "]"
            if part.name.endswith(".path"):
                paths[index] = (await part.read()).decode()
            elif part.name.endswith(".file"):
                target = self._path(sandbox, paths.get(index) or part.filename)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(await part.read())
        return web.Response(status=200)

    async def bulk_download(self, request: web.Request) -> web.Response:
        sandbox = self._started(request)
        paths = (await request.json()).get("paths") or []
        with aiohttp.MultipartWriter("form-data") as out:
            for path in paths:
                target = self._path(sandbox, path)
                # The daemon names each part's file as given (Go's multipart writer, no %-encoding).
                if target.is_file():
                    out.append(target.read_bytes(), {
                        "Content-Type": "application/octet-stream",
                        "Content-Disposition": f'form-data; name="file"; filename="{path}"'})
                else:
                    out.append(json.dumps({"message": f"file not found: {path}", "statusCode": 404,
                                           "code": "FILE_NOT_FOUND"}), {
                        "Content-Type": "application/json",
                        "Content-Disposition": f'form-data; name="error"; filename="{path}"'})
        body = b"".join([chunk async for chunk in _written(out)])
        return web.Response(body=body, headers={"Content-Type": f"multipart/form-data; boundary={out.boundary}"})

    # -- life ------------------------------------------------------------------
    async def begin(self) -> "FakeDaytona":
        app = web.Application(middlewares=[self.gate], client_max_size=64 << 20)
        t = "/toolbox/{id}"
        app.add_routes([
            web.post("/sandbox", self.create), web.get("/sandbox/{id}", self.get),
            web.delete("/sandbox/{id}", self.delete), web.post("/sandbox/{id}/start", self.start),
            web.post("/sandbox/{id}/stop", self.stop),
            web.post(t + "/process/session", self.create_session),
            web.post(t + "/process/session/{session}/exec", self.session_exec),
            web.get(t + "/process/session/{session}/command/{command}", self.get_command),
            web.get(t + "/process/session/{session}/command/{command}/logs", self.command_logs),
            web.get(t + "/files", self.list_files), web.delete(t + "/files", self.delete_file),
            web.get(t + "/files/info", self.file_info), web.post(t + "/files/move", self.move_file),
            web.post(t + "/files/bulk-upload", self.bulk_upload),
            web.post(t + "/files/bulk-download", self.bulk_download)])
        self.runner, self.url = await serve(app)
        return self

    def running(self) -> int:
        return sum(s["dto"]["state"] == "started" for s in self.sandboxes.values())

    async def close(self) -> None:
        for sandbox in self.sandboxes.values():
            sandbox["vm"].stop()
        if self.runner is not None:
            await self.runner.cleanup()


async def _written(writer: aiohttp.MultipartWriter):
    class Sink:
        def __init__(self):
            self.chunks = []

        async def write(self, data: bytes) -> None:
            self.chunks.append(bytes(data))
    sink = Sink()
    await writer.write(sink)
    for chunk in sink.chunks:
        yield chunk
