"""A stand-in for Vercel Sandbox's REST API (v1), as Vercel documents it
(vercel.com/docs/rest-api/sandboxes) and as its official SDK calls it
(github.com/vercel/sandbox, packages/vercel-sandbox/src/api-client: the
request bodies, the `{sandbox, routes}` / `{command}` envelopes and their
validators, `application/x-ndjson` logs, gzip tarballs with `x-cwd` for
writes, `{error: {code, message}}` errors, Retry-After on 429).

Bearer auth against one token; teamId scoping; sandboxes pending, then
running; commands as real processes in a folder per sandbox; snapshots
that stop their sandbox; rate limits and failures on request."""
import asyncio
import gzip
import io
import json
import pathlib
import secrets
import shutil
import tarfile
import time

from aiohttp import web

from tests.fakes.vm import VM, serve

RUNTIMES = ("node24", "node22", "python3.13")
WORKDIR = "/vercel/sandbox"
MAX_TIMEOUT_MS = 45 * 60 * 1000  # the Hobby plan's maximum


def _ms() -> int:
    return int(time.time() * 1000)


def _error(status: int, code: str, message: str, **headers) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status, headers=headers)


class FakeVercel:
    def __init__(self, root: pathlib.Path, token: str, team_id: str = ""):
        self.root = root
        self.token = token
        self.team_id = team_id
        self.sandboxes: dict[str, dict] = {}
        self.vms: dict[str, VM] = {}
        self.commands: dict[str, dict] = {}  # command id -> its record and process
        self.snapshots: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) as received
        self.rate_limit_next = 0  # answer this many of the next requests 429
        self.fail_creates = 0  # answer this many of the next creates 500
        self.pending_s = 0.05  # how long a new sandbox stays pending
        self.runner: web.AppRunner | None = None
        self.url = ""

    # -- plumbing ----------------------------------------------------------
    @web.middleware
    async def gate(self, request: web.Request, handler):
        self.requests.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(403, "forbidden", "Not authorized")
        if self.team_id and request.query.get("teamId") != self.team_id:
            return _error(403, "forbidden", "You don't have permission to access this team")
        if self.rate_limit_next:
            self.rate_limit_next -= 1
            return _error(429, "rate_limited", "Too many requests", **{"Retry-After": "1"})
        return await handler(request)

    def _sandbox(self, request: web.Request) -> dict:
        sandbox = self.sandboxes.get(request.match_info["sandboxId"])
        if sandbox is None:
            raise web.HTTPNotFound(text=json.dumps({"error": {"code": "not_found", "message": "Sandbox not found"}}),
                                   content_type="application/json")
        return sandbox

    def _running(self, request: web.Request) -> dict:
        sandbox = self._sandbox(request)
        if sandbox["status"] != "running":
            raise web.HTTPGone(text=json.dumps({"error": {"code": "sandbox_stopped",
                                                          "message": f"Sandbox is {sandbox['status']}"}}),
                               content_type="application/json")
        return sandbox

    # -- sandboxes ---------------------------------------------------------
    async def create(self, request: web.Request) -> web.Response:
        body = await request.json()
        runtime = body.get("runtime") or "node24"
        if runtime not in RUNTIMES:
            return _error(400, "bad_request", f"runtime must be one of {', '.join(RUNTIMES)}")
        vcpus = (body.get("resources") or {}).get("vcpus", 2)
        if not isinstance(vcpus, int) or vcpus < 1 or vcpus > 8 or (vcpus > 1 and vcpus % 2):
            return _error(400, "bad_request", "resources.vcpus must be 1, or an even number up to 8")
        timeout = body.get("timeout", 300_000)
        if not isinstance(timeout, int) or not 1 <= timeout <= MAX_TIMEOUT_MS:
            return _error(400, "bad_request", f"timeout must be at most {MAX_TIMEOUT_MS} ms")
        if self.fail_creates:
            self.fail_creates -= 1
            return _error(500, "internal_server_error", "Failed to create sandbox")
        sandbox_id = "sbx_" + secrets.token_hex(12)
        vm = self.vms[sandbox_id] = VM(self.root / sandbox_id, WORKDIR)
        source = body.get("source") or {}
        if source.get("type") == "snapshot":
            snapshot = self.snapshots.get(source.get("snapshotId", ""))
            if snapshot is None or snapshot["status"] != "created":
                return _error(404, "not_found", "Snapshot not found")
            vm.root.rmdir()
            shutil.copytree(self.root / "snapshots" / snapshot["id"], vm.root, symlinks=True)
        now = _ms()
        sandbox = self.sandboxes[sandbox_id] = {
            "id": sandbox_id, "memory": 2048 * vcpus, "vcpus": vcpus, "region": "iad1", "runtime": runtime,
            "timeout": timeout, "status": "pending", "requestedAt": now, "createdAt": now, "cwd": WORKDIR,
            "updatedAt": now, "networkPolicy": body.get("networkPolicy") or {"mode": "allow-all"},
            **({"sourceSnapshotId": source["snapshotId"]} if source.get("type") == "snapshot" else {})}
        asyncio.get_running_loop().call_later(self.pending_s, self._start, sandbox_id)
        return web.json_response({"sandbox": sandbox, "routes": []})

    def _start(self, sandbox_id: str) -> None:
        sandbox = self.sandboxes[sandbox_id]
        if sandbox["status"] == "pending":
            sandbox.update(status="running", startedAt=_ms(), updatedAt=_ms())

    async def get(self, request: web.Request) -> web.Response:
        return web.json_response({"sandbox": self._sandbox(request), "routes": []})

    async def stop(self, request: web.Request) -> web.Response:
        sandbox = self._sandbox(request)
        self.vms[sandbox["id"]].stop()
        sandbox.update(status="stopped", stoppedAt=_ms(), updatedAt=_ms())
        return web.json_response({"sandbox": sandbox})

    async def snapshot(self, request: web.Request) -> web.Response:
        sandbox = self._running(request)
        vm = self.vms[sandbox["id"]]
        vm.stop()
        snapshot_id = "snap_" + secrets.token_hex(12)
        (self.root / "snapshots").mkdir(exist_ok=True)
        vm.copy_to(self.root / "snapshots" / snapshot_id)
        now = _ms()
        snapshot = self.snapshots[snapshot_id] = {
            "id": snapshot_id, "sourceSandboxId": sandbox["id"], "region": sandbox["region"], "status": "created",
            "sizeBytes": sum(f.stat().st_size for f in vm.root.rglob("*") if f.is_file()), "createdAt": now,
            "updatedAt": now}
        sandbox.update(status="stopped", snapshottedAt=now, stoppedAt=now, updatedAt=now)
        return web.json_response({"snapshot": snapshot, "sandbox": sandbox})

    async def delete_snapshot(self, request: web.Request) -> web.Response:
        snapshot = self.snapshots.get(request.match_info["snapshotId"])
        if snapshot is None:
            return _error(404, "not_found", "Snapshot not found")
        snapshot.update(status="deleted", updatedAt=_ms())
        return web.json_response({"snapshot": snapshot})

    # -- commands ----------------------------------------------------------
    async def run_command(self, request: web.Request) -> web.StreamResponse:
        sandbox = self._running(request)
        body = await request.json()
        if not isinstance(body.get("command"), str) or not body["command"]:
            return _error(400, "bad_request", "command is required")
        args = body.get("args") or []
        vm = self.vms[sandbox["id"]]
        process = await vm.spawn([body["command"], *args], env=body.get("env") or {}, cwd=body.get("cwd") or WORKDIR)
        command = {"id": "cmd_" + secrets.token_hex(12), "name": body["command"], "args": args,
                   "cwd": body.get("cwd") or WORKDIR, "sandboxId": sandbox["id"], "exitCode": None,
                   "startedAt": _ms()}
        self.commands[command["id"]] = {"command": command, "process": process}
        if not body.get("wait"):
            return web.json_response({"command": command})
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        await response.write((json.dumps({"command": command}) + "\n").encode())
        command["exitCode"] = await process.wait()
        await response.write((json.dumps({"command": command}) + "\n").encode())
        await response.write_eof()
        return response

    def _command(self, request: web.Request) -> dict:
        self._sandbox(request)
        found = self.commands.get(request.match_info["cmdId"])
        if found is None or found["command"]["sandboxId"] != request.match_info["sandboxId"]:
            raise web.HTTPNotFound(text=json.dumps({"error": {"code": "not_found", "message": "Command not found"}}),
                                   content_type="application/json")
        return found

    async def get_command(self, request: web.Request) -> web.Response:
        found = self._command(request)
        if request.query.get("wait") == "true":
            found["command"]["exitCode"] = await found["process"].wait()
        return web.json_response({"command": found["command"]})

    async def logs(self, request: web.Request) -> web.StreamResponse:
        found = self._command(request)
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        async for kind, data in found["process"].follow():
            await response.write((json.dumps({"stream": kind, "data": data}) + "\n").encode())
        await response.write_eof()
        return response

    # -- files -------------------------------------------------------------
    async def write(self, request: web.Request) -> web.Response:
        sandbox = self._running(request)
        if request.headers.get("Content-Type") != "application/gzip":
            return _error(400, "bad_request", "Expected application/gzip")
        vm = self.vms[sandbox["id"]]
        cwd = request.headers.get("x-cwd") or WORKDIR
        raw = gzip.decompress(await request.read())
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for member in tar.getmembers():
                target = vm.path(member.name, cwd)
                if target is None or not (member.isfile() or member.isdir()):
                    return _error(400, "bad_request", f"invalid path {member.name}")
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())
                target.chmod(member.mode & 0o777)
        return web.json_response({})

    async def read(self, request: web.Request) -> web.StreamResponse:
        sandbox = self._running(request)
        body = await request.json()
        target = self.vms[sandbox["id"]].path(body.get("path", ""), body.get("cwd") or WORKDIR)
        if target is None or not target.is_file():
            return _error(404, "file_not_found", "File not found")
        return web.Response(body=target.read_bytes(), content_type="application/octet-stream")

    # -- life ------------------------------------------------------------------
    async def start(self) -> "FakeVercel":
        app = web.Application(middlewares=[self.gate], client_max_size=64 << 20)
        s = "/v1/sandboxes/{sandboxId}"
        app.add_routes([
            web.post("/v1/sandboxes", self.create), web.get(s, self.get), web.post(s + "/stop", self.stop),
            web.post(s + "/snapshot", self.snapshot),
            web.delete("/v1/sandboxes/snapshots/{snapshotId}", self.delete_snapshot),
            web.post(s + "/cmd", self.run_command), web.get(s + "/cmd/{cmdId}", self.get_command),
            web.get(s + "/cmd/{cmdId}/logs", self.logs),
            web.post(s + "/fs/write", self.write), web.post(s + "/fs/read", self.read)])
        self.runner, self.url = await serve(app)
        return self

    async def close(self) -> None:
        for vm in self.vms.values():
            vm.stop()
        if self.runner is not None:
            await self.runner.cleanup()
