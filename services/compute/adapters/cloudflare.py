"""The `cloudflare` provider: Cloudflare Sandbox, whose SDK runs only inside a
Worker. The account deploys deploy/cloudflare (Cloudflare's sandbox bridge)
and enables the provider with the Worker's URL and its SANDBOX_API_KEY; this
adapter calls the bridge's HTTP API with them on every call.

- create: POST /v1/sandbox names a sandbox; GET .../running starts its
  container and says it answers;
- run: POST .../exec (sh -c, `timeout` inside), its output as the bridge's
  server-sent events (stdout/stderr base64, then exit or error);
- files: GET/PUT .../file/workspace/<path>; the rest as runs;
- delete: DELETE .../:id. A container keeps no filesystem across a stop, so
  a pause keeps no workspace (and says so)."""
import base64
import json
import secrets
import time
from collections.abc import AsyncIterator
from urllib.parse import quote

from servicekit import config
from servicekit.limits import Limits
from services.compute.adapters.base import RunEvent, SandboxGone, SandboxRecord, SandboxRefused
from services.compute.adapters.remote import Bounded, WholeFiles, command, exit_event, inside
from services.compute.adapters.rest import VendorAPI

WORKDIR = "/workspace"  # the bridge serves files under it only
MAX_WRITE_BYTES = 32 << 20  # the bridge's limit on one PUT


class CloudflareProvider(WholeFiles):
    provider = "cloudflare"
    keeps_workspaces = False

    def __init__(self, credentials):
        self._credentials = credentials
        self.api = VendorAPI("the Cloudflare Worker", public_only=True)

    def capabilities(self) -> dict:
        return {"runtimes": ["shell", "python", "node"], "isolated": True, "network": True, "os": "Linux"}

    async def _worker(self, box: SandboxRecord) -> tuple[str, dict]:
        creds = await self._credentials(box, self.provider)
        return creds["worker_url"], {"Authorization": f"Bearer {creds['shared_secret']}"}

    def _path(self, box: SandboxRecord, rest: str = "") -> str:
        if not box.external_id:
            raise SandboxRefused("the Cloudflare sandbox is not there", not_found=True)
        return f"/v1/sandbox/{box.external_id}{rest}"

    def _file(self, box: SandboxRecord, path: str) -> str:
        return self._path(box, "/file" + quote(f"{WORKDIR}/{inside(path)}"))

    # -- the sandbox contract ----------------------------------------------
    async def create(self, box: SandboxRecord, limits: Limits) -> str:
        worker, headers = await self._worker(box)
        async with self.api.call("POST", "/v1/sandbox", base_url=worker, headers=headers,
                                 idempotent=False) as response:
            box.external_id = (await response.json())["id"]
        async with self.api.call("GET", self._path(box, "/running"), base_url=worker, headers=headers,
                                 idempotent=True, timeout=config.CREATE_TIMEOUT_S) as response:
            if not (await response.json()).get("running"):
                raise SandboxGone("the Cloudflare sandbox's container did not start")
        return "ws_" + secrets.token_hex(8)

    async def run(self, box: SandboxRecord, runtime: str, code: str, stdin: str, env: dict[str, str],
                  timeout: float) -> AsyncIterator[RunEvent]:
        worker, headers = await self._worker(box)
        line = command(runtime or box.runtime or "shell", code, stdin, env, timeout)
        yield RunEvent(type="started")
        started = time.perf_counter()
        body = {"argv": ["sh", "-c", line], "timeout_ms": round((timeout + config.RUN_GRACE_S) * 1000),
                "cwd": WORKDIR}
        bounded, exit_code = Bounded(), None
        async with self.api.call("POST", self._path(box, "/exec"), base_url=worker, headers=headers, json=body,
                                 idempotent=False, timeout=timeout + config.RUN_GRACE_S) as response:
            async for kind, data in _events(response):
                if kind in ("stdout", "stderr"):
                    event = bounded.take(kind, base64.b64decode(data).decode(errors="replace"))
                    if event is not None:
                        yield event
                elif kind == "exit":
                    exit_code = json.loads(data)["exit_code"]
                elif kind == "error":
                    raise SandboxGone(f"the Cloudflare sandbox failed the command: {json.loads(data).get('error')}")
        if exit_code is None:
            raise SandboxGone("the Cloudflare Worker ended the command's stream without its exit")
        event = exit_event(exit_code, started, timeout)
        event.truncated = bounded.truncated
        yield event

    async def _write_whole(self, box: SandboxRecord, path: str, data: bytes) -> None:
        if len(data) > MAX_WRITE_BYTES:
            raise SandboxRefused(f"the Cloudflare Worker takes at most {MAX_WRITE_BYTES} bytes at once")
        worker, headers = await self._worker(box)
        async with self.api.call("PUT", self._file(box, path), base_url=worker, data=data, idempotent=True,
                                 headers={**headers, "Content-Type": "application/octet-stream"}):
            pass

    async def _read_whole(self, box: SandboxRecord, path: str) -> bytes:
        worker, headers = await self._worker(box)
        async with self.api.call("GET", self._file(box, path), base_url=worker, headers=headers, idempotent=True,
                                 what=f"file {path}") as response:
            return await self.api.file(response, path)

    async def delete(self, box: SandboxRecord, keep_workspace: bool) -> None:
        if not box.external_id:
            return
        worker, headers = await self._worker(box)
        try:
            async with self.api.call("DELETE", self._path(box), base_url=worker, headers=headers, idempotent=True):
                pass
        except SandboxRefused as exc:
            if not exc.not_found:
                raise

    async def close(self) -> None:
        await self.api.close()


async def _events(response) -> AsyncIterator[tuple[str, str]]:
    """(event, data) of a server-sent event stream; multi-line data joined."""
    kind, data, pending = "message", [], b""
    async for chunk in response.content.iter_any():
        *lines, pending = (pending + chunk).split(b"\n")
        for raw in lines:
            line = raw.decode().rstrip("\r")
            if not line:
                if data:
                    yield kind, "\n".join(data)
                kind, data = "message", []
            elif line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
