"""A stand-in for the Worker an account deploys (deploy/cloudflare):
Cloudflare's sandbox bridge, as its source and README document it
(cloudflare/sandbox-sdk, packages/sandbox/src/bridge/routes.ts and
bridge/worker/README.md): bearer auth with SANDBOX_API_KEY, base32 sandbox
ids, containers assigned on first use up to max_instances (503
capacity_exceeded past it), exec as server-sent events (stdout/stderr
base64, exit, error), files under /workspace only (403 outside, 404
workspace_read_not_found, 413 past 32 MiB), DELETE destroying the container,
`{error, code}` errors. Containers are real processes in a folder each."""
import base64
import json
import pathlib
import re
import secrets
import shlex

from aiohttp import web

from tests.fakes.vm import VM, serve

WORKDIR = "/workspace"
SANDBOX_ID = re.compile(r"^[a-z2-7]{1,128}$")
MAX_WRITE_BYTES = 32 << 20


def _error(message: str, code: str, status: int, **headers) -> web.Response:
    return web.json_response({"error": message, "code": code}, status=status, headers=headers)


class FakeWorker:
    def __init__(self, root: pathlib.Path, api_key: str, max_instances: int = 10):
        self.root = root
        self.api_key = api_key
        self.max_instances = max_instances
        self.containers: dict[str, VM] = {}
        self.requests: list[tuple[str, str]] = []
        self.rate_limit_next = 0
        self.fail_creates = 0  # the next this many containers fail to start (capacity)
        self.runner: web.AppRunner | None = None
        self.url = ""

    @web.middleware
    async def gate(self, request: web.Request, handler):
        self.requests.append((request.method, request.path))
        if request.path == "/health":
            return await handler(request)
        parts = request.path.split("/")
        if len(parts) > 3 and parts[3] and not SANDBOX_ID.match(parts[3]):
            return _error("Invalid sandbox ID format", "invalid_request", 400)
        auth = request.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer ") or auth[7:] != self.api_key:
            return _error("Unauthorized", "unauthorized", 401)
        if self.rate_limit_next:
            self.rate_limit_next -= 1
            return _error("Too many requests", "rate_limited", 429, **{"Retry-After": "1"})
        return await handler(request)

    def _container(self, request: web.Request) -> VM:
        """The sandbox's container, assigned on first use (the warm pool's getContainer)."""
        sandbox_id = request.match_info["id"]
        if sandbox_id not in self.containers:
            if len(self.containers) >= self.max_instances or self.fail_creates:
                self.fail_creates = max(0, self.fail_creates - 1)
                raise web.HTTPServiceUnavailable(text=json.dumps({
                    "error": "pool error: instance limit reached", "code": "capacity_exceeded"}),
                    content_type="application/json")
            self.containers[sandbox_id] = VM(self.root / sandbox_id, WORKDIR)
        return self.containers[sandbox_id]

    @staticmethod
    def _resolve(path: str) -> str | None:
        """resolveWorkspacePath: absolute, normalized, inside /workspace."""
        parts: list[str] = []
        for segment in (path if path.startswith("/") else f"{WORKDIR}/{path}").split("/"):
            if segment in ("", "."):
                continue
            if segment == "..":
                if parts:
                    parts.pop()
            else:
                parts.append(segment)
        resolved = "/" + "/".join(parts)
        return resolved if resolved == WORKDIR or resolved.startswith(WORKDIR + "/") else None

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def create(self, request: web.Request) -> web.Response:
        return web.json_response({"id": base64.b32encode(secrets.token_bytes(16)).decode().lower().rstrip("=")})

    async def running(self, request: web.Request) -> web.Response:
        self._container(request)
        return web.json_response({"running": True})

    async def exec(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return _error("Invalid JSON body", "invalid_request", 400)
        if not isinstance(body.get("argv"), list) or not body["argv"]:
            return _error("argv must be a non-empty array", "invalid_request", 400)
        cwd = WORKDIR
        if isinstance(body.get("cwd"), str):
            cwd = self._resolve(body["cwd"])
            if cwd is None:
                return _error("cwd must resolve to a location within /workspace", "invalid_request", 403)
        vm = self._container(request)
        process = await vm.spawn(["bash", "-c", " ".join(shlex.quote(a) for a in body["argv"])], cwd=cwd)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        async for kind, text in process.follow():
            await response.write(f"event: {kind}\ndata: {base64.b64encode(text.encode()).decode()}\n\n".encode())
        code = await process.wait()
        await response.write(f"event: exit\ndata: {json.dumps({'exit_code': code})}\n\n".encode())
        await response.write_eof()
        return response

    def _file(self, request: web.Request) -> tuple[VM, str] | web.Response:
        relative = request.match_info["path"]
        if not relative:
            return _error("file path must not be empty", "invalid_request", 400)
        resolved = self._resolve("/" + relative)
        if resolved is None:
            return _error("path must resolve to a location within /workspace", "invalid_request", 403)
        return self._container(request), resolved

    async def read(self, request: web.Request) -> web.Response:
        found = self._file(request)
        if isinstance(found, web.Response):
            return found
        vm, resolved = found
        target = vm.path(resolved)
        if target is None or not target.is_file():
            return _error(f"File not found: {resolved}", "workspace_read_not_found", 404)
        return web.Response(body=target.read_bytes(), content_type="application/octet-stream")

    async def write(self, request: web.Request) -> web.Response:
        found = self._file(request)
        if isinstance(found, web.Response):
            return found
        vm, resolved = found
        data = await request.read()
        if len(data) > MAX_WRITE_BYTES:
            return _error(f"payload too large: {len(data)} bytes exceeds the {MAX_WRITE_BYTES}-byte limit",
                          "payload_too_large", 413)
        target = vm.path(resolved)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        return web.json_response({"ok": True})

    async def destroy(self, request: web.Request) -> web.Response:
        vm = self.containers.pop(request.match_info["id"], None)
        if vm is not None:
            vm.remove()
        return web.Response(status=204)

    async def start(self) -> "FakeWorker":
        app = web.Application(middlewares=[self.gate], client_max_size=64 << 20)
        s = "/v1/sandbox/{id}"
        app.add_routes([web.get("/health", self.health), web.post("/v1/sandbox", self.create),
                        web.get(s + "/running", self.running), web.post(s + "/exec", self.exec),
                        web.get(s + "/file/{path:.*}", self.read), web.put(s + "/file/{path:.*}", self.write),
                        web.delete(s, self.destroy)])
        self.runner, self.url = await serve(app)
        return self

    def running_count(self) -> int:
        return len(self.containers)

    async def close(self) -> None:
        for vm in self.containers.values():
            vm.stop()
        if self.runner is not None:
            await self.runner.cleanup()
