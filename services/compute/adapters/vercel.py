"""The `vercel` provider: Vercel Sandbox (Firecracker microVMs) through its
documented REST API, v1 (the official SDK is TypeScript only), with the
account's token on every call.

- create: POST /v1/sandboxes (runtime, vCPUs, timeout, network policy),
  ready when GET says running; a kept workspace comes back from its snapshot;
- run: POST .../cmd (sh -c, `timeout` inside), its output followed on
  .../cmd/{id}/logs (ndjson), its exit from .../cmd/{id}?wait=true;
- files: .../fs/write (a gzip tarball) and .../fs/read; the rest as runs;
- pause (delete keeping the workspace): .../snapshot, which stops the VM
  and keeps its filesystem; delete: .../stop.
The sandbox's id (or its snapshot's) is kept in the sandbox row, so any
replica of compute serves any call."""
import asyncio
import gzip
import io
import json
import math
import secrets
import tarfile
import time
from collections.abc import AsyncIterator

from servicekit import config
from servicekit.limits import Limits
from services.compute.adapters.base import RunEvent, SandboxGone, SandboxRecord, SandboxRefused
from services.compute.adapters.remote import Bounded, WholeFiles, command, exit_event, inside
from services.compute.adapters.rest import VendorAPI

RUNTIMES = {"python": "python3.13", "node": "node24", "shell": "node24"}
TIMEOUT_MS = 45 * 60 * 1000  # the longest every plan allows (catalog.toml: max_timeout_minutes)
WORKDIR = "/vercel/sandbox"  # every Vercel sandbox's working directory: the workspace
SNAPSHOT = "snapshot:"  # an external id naming a snapshot, not a sandbox


def vcpus(cpus: float) -> int:
    """Vercel takes 1 vCPU or an even number up to 8."""
    return 1 if cpus <= 1 else min(8, 2 * math.ceil(cpus / 2))


class VercelProvider(WholeFiles):
    provider = "vercel"

    def __init__(self, credentials):
        self._credentials = credentials
        self.api = VendorAPI("Vercel", config.settings().vercel_api_url)

    def capabilities(self) -> dict:
        return {"runtimes": ["shell", "python", "node"], "isolated": True, "network": True, "os": "Linux"}

    async def _auth(self, box: SandboxRecord) -> tuple[dict, dict, dict]:
        creds = await self._credentials(box, self.provider)
        params = {"teamId": creds["team_id"]} if creds.get("team_id") else {}
        return {"Authorization": f"Bearer {creds['vercel_token']}"}, params, creds

    def _path(self, box: SandboxRecord, rest: str = "") -> str:
        if not box.external_id or box.external_id.startswith(SNAPSHOT):
            raise SandboxRefused("the Vercel sandbox is not running", not_found=True)
        return f"/v1/sandboxes/{box.external_id}{rest}"

    # -- the sandbox contract ----------------------------------------------
    async def create(self, box: SandboxRecord, limits: Limits) -> str:
        headers, params, creds = await self._auth(box)
        body = {"runtime": RUNTIMES[box.runtime or "shell"], "timeout": TIMEOUT_MS,
                "resources": {"vcpus": vcpus(limits.cpus)}, "ports": [],
                "networkPolicy": {"mode": "allow-all" if box.network else "deny-all"}}
        if creds.get("project_id"):
            body["projectId"] = creds["project_id"]
        snapshot = ""
        if box.workspace_id:  # resume: from the snapshot the pause took
            if not box.external_id.startswith(SNAPSHOT):
                raise SandboxRefused("this workspace was not kept on Vercel", not_found=True)
            snapshot = box.external_id[len(SNAPSHOT):]
            body["source"] = {"type": "snapshot", "snapshotId": snapshot}
        async with self.api.call("POST", "/v1/sandboxes", headers=headers, params=params, json=body,
                                 idempotent=False, what="the workspace's snapshot") as response:
            box.external_id = (await response.json())["sandbox"]["id"]
        try:
            await self._until_running(box, headers, params)
        except BaseException:
            await self._stop(box, headers, params)
            raise
        if snapshot:  # restored: the snapshot's storage is no longer needed
            async with self.api.call("DELETE", f"/v1/sandboxes/snapshots/{snapshot}", headers=headers,
                                     params=params, idempotent=True, what="the snapshot"):
                pass
        return box.workspace_id or "ws_" + secrets.token_hex(8)

    async def _until_running(self, box: SandboxRecord, headers: dict, params: dict) -> None:
        deadline = time.monotonic() + config.CREATE_TIMEOUT_S
        delay = 0.05
        while True:
            async with self.api.call("GET", self._path(box), headers=headers, params=params,
                                     idempotent=True) as response:
                status = (await response.json())["sandbox"]["status"]
            if status == "running":
                return
            if status not in ("pending",):
                raise SandboxGone(f"the Vercel sandbox is {status}")
            if time.monotonic() > deadline:
                raise SandboxGone("the Vercel sandbox did not start in time")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def run(self, box: SandboxRecord, runtime: str, code: str, stdin: str, env: dict[str, str],
                  timeout: float) -> AsyncIterator[RunEvent]:
        headers, params, _ = await self._auth(box)
        line = command(runtime or box.runtime or "shell", code, stdin, env, timeout)
        yield RunEvent(type="started")
        started = time.perf_counter()
        async with self.api.call("POST", self._path(box, "/cmd"), headers=headers, params=params, idempotent=False,
                                 json={"command": "sh", "args": ["-c", line], "env": {}, "sudo": False}) as response:
            command_id = (await response.json())["command"]["id"]
        bounded, pending = Bounded(), b""
        wait = timeout + config.RUN_GRACE_S
        async with self.api.call("GET", self._path(box, f"/cmd/{command_id}/logs"), headers=headers, params=params,
                                 idempotent=False, timeout=wait) as response:
            async for chunk in response.content.iter_any():
                *lines, pending = (pending + chunk).split(b"\n")
                for raw in filter(None, lines):
                    entry = json.loads(raw)
                    if entry.get("stream") == "error":
                        raise SandboxGone(f"Vercel ended the command's logs: {entry['data'].get('message', '')}")
                    event = bounded.take(entry["stream"], entry["data"])
                    if event is not None:
                        yield event
        async with self.api.call("GET", self._path(box, f"/cmd/{command_id}"), headers=headers,
                                 params={**params, "wait": "true"}, idempotent=True, timeout=wait) as response:
            exit_code = (await response.json())["command"]["exitCode"]
        event = exit_event(exit_code, started, timeout)
        event.truncated = bounded.truncated
        yield event

    async def _write_whole(self, box: SandboxRecord, path: str, data: bytes) -> None:
        headers, params, _ = await self._auth(box)
        tar_bytes = io.BytesIO()
        with tarfile.open(fileobj=tar_bytes, mode="w") as tar:
            info = tarfile.TarInfo(inside(path))
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        async with self.api.call("POST", self._path(box, "/fs/write"), params=params, idempotent=True,
                                 headers={**headers, "Content-Type": "application/gzip", "x-cwd": WORKDIR},
                                 data=gzip.compress(tar_bytes.getvalue())):
            pass

    async def _read_whole(self, box: SandboxRecord, path: str) -> bytes:
        headers, params, _ = await self._auth(box)
        async with self.api.call("POST", self._path(box, "/fs/read"), headers=headers, params=params,
                                 json={"path": inside(path), "cwd": WORKDIR}, idempotent=True,
                                 what=f"file {path}") as response:
            return await self.api.file(response, path)

    async def delete(self, box: SandboxRecord, keep_workspace: bool) -> None:
        if not box.external_id or box.external_id.startswith(SNAPSHOT):
            return
        headers, params, _ = await self._auth(box)
        if keep_workspace:  # a snapshot keeps the filesystem and stops the VM
            async with self.api.call("POST", self._path(box, "/snapshot"), headers=headers, params=params,
                                     idempotent=False) as response:
                box.external_id = SNAPSHOT + (await response.json())["snapshot"]["id"]
            return
        await self._stop(box, headers, params)

    async def _stop(self, box: SandboxRecord, headers: dict, params: dict) -> None:
        try:
            async with self.api.call("POST", self._path(box, "/stop"), headers=headers, params=params,
                                     idempotent=True):
                pass
        except SandboxRefused as exc:
            if not exc.not_found:  # already stopped or gone: what stop wanted
                raise

    async def close(self) -> None:
        await self.api.close()
