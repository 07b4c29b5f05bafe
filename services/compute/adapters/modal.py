"""The `modal` provider: Modal Sandboxes (gVisor containers) through the
official `modal` SDK, with the account's token on every call: Modal's API
server for the app, image, create and terminate; the task command router
of the sandbox's worker for commands (the SDK reaches it with a JWT the
API server issues).

- create: Sandbox.create in the account's app `cerver` (in the environment
  the credentials name), from a Debian slim image with Python and Node, the
  cores and memory the limits ask, the network blocked unless required; a
  kept workspace comes back from its filesystem snapshot;
- run: exec of one command line (`timeout` inside, so it ends at its own
  timeout: Modal has no call to kill an exec), stdout and stderr followed
  as they come;
- files: whole files through an exec's stdin and stdout; ranges, pieces,
  listing and the rest as runs;
- pause (delete keeping the workspace): snapshot_filesystem, an image the
  resume starts from, then terminate (Modal's own pause is for its
  persistent sandboxes only); delete: terminate.
The sandbox's id (or its snapshot's image id) is kept in the sandbox row,
so any replica of compute serves any call; clients and handles are cached
per process."""
import asyncio
import hashlib
import math
import secrets
import shlex
import time
from collections.abc import AsyncIterator

import modal
from modal import exception as modal_errors

from servicekit import config
from servicekit.limits import Limits
from services.compute.adapters.base import ComputeUnreachable, RunEvent, SandboxGone, SandboxRecord, SandboxRefused
from services.compute.adapters.remote import Translated, WholeFiles, command, followed, inside

APP = "cerver"  # the app, in the account's Modal environment, that its sandboxes belong to
WORKDIR = "/workspace"
LIFETIME_S = 24 * 3600  # the longest Modal allows; sessions end their sandboxes before
SNAPSHOT = "image:"  # an external id naming a filesystem snapshot, not a sandbox
CHUNK = 1 << 20  # stdin written this much per call


def _image() -> modal.Image:
    return modal.Image.debian_slim(python_version="3.12").apt_install("nodejs").workdir(WORKDIR)


class ModalProvider(WholeFiles):
    provider = "modal"

    def __init__(self, credentials):
        self._credentials = credentials
        # The SDK takes its API server's address from its configuration,
        # which the environment overrides; there is one per deployment.
        modal.config.config.override_locally("server_url", config.settings().modal_server_url)
        self._clients: dict[str, modal.Client] = {}  # credentials' digest -> open client
        self._handles: dict[str, tuple[str, modal.Sandbox]] = {}  # sandbox id -> (digest, handle)

    def capabilities(self) -> dict:
        return {"runtimes": ["shell", "python", "node"], "isolated": True, "network": True, "os": "Linux"}

    async def _client(self, box: SandboxRecord) -> tuple[str, modal.Client, dict]:
        creds = await self._credentials(box, self.provider)
        digest = hashlib.sha256(f"{creds['token_id']}\0{creds['token_secret']}".encode()).hexdigest()
        client = self._clients.get(digest)
        if client is None:
            # It connects; the SDK keeps retrying an unreachable server for a
            # minute, a caller waits no longer than any cloud call may take.
            with translated():
                async with asyncio.timeout(config.settings().cloud_timeout_s):
                    client = await modal.Client.from_credentials.aio(creds["token_id"], creds["token_secret"])
            self._clients[digest] = client
        return digest, client, creds

    async def _sandbox(self, box: SandboxRecord) -> modal.Sandbox:
        if not box.external_id or box.external_id.startswith(SNAPSHOT):
            raise SandboxRefused("the Modal sandbox is not running", not_found=True)
        digest, client, _ = await self._client(box)
        cached = self._handles.get(box.external_id)
        if cached is not None and cached[0] == digest:
            return cached[1]
        with translated():
            handle = await modal.Sandbox.from_id.aio(box.external_id, client=client)
        self._handles[box.external_id] = (digest, handle)
        return handle

    # -- the sandbox contract ----------------------------------------------
    async def create(self, box: SandboxRecord, limits: Limits) -> str:
        digest, client, creds = await self._client(box)
        with translated():
            app = await modal.App.lookup.aio(APP, create_if_missing=True, client=client,
                                             environment_name=creds.get("environment") or None)
            if box.workspace_id:  # resume: from the filesystem snapshot the pause took
                if not box.external_id.startswith(SNAPSHOT):
                    raise SandboxRefused("this workspace was not kept on Modal", not_found=True)
                image = modal.Image.from_id(box.external_id[len(SNAPSHOT):], client=client)
            else:
                image = _image()
            handle = await modal.Sandbox.create.aio(
                app=app, image=image, timeout=LIFETIME_S, workdir=WORKDIR, cpu=limits.cpus,
                memory=limits.memory_mb, block_network=not box.network,
                tags={"cerver_sandbox_id": box.sandbox_id}, client=client)
        box.external_id = handle.object_id
        self._handles[box.external_id] = (digest, handle)
        return box.workspace_id or "ws_" + secrets.token_hex(8)

    async def _exec(self, box: SandboxRecord, line: str, timeout: float, text: bool = True):
        sandbox = await self._sandbox(box)
        return await sandbox.exec.aio("sh", "-c", line, workdir=WORKDIR, text=text,
                                      timeout=math.ceil(timeout + config.RUN_GRACE_S))

    async def run(self, box: SandboxRecord, runtime: str, code: str, stdin: str, env: dict[str, str],
                  timeout: float) -> AsyncIterator[RunEvent]:
        line = command(runtime or box.runtime or "shell", code, stdin, env, timeout)
        queue: asyncio.Queue = asyncio.Queue()
        yield RunEvent(type="started")
        started = time.perf_counter()
        with translated():
            process = await self._exec(box, line, timeout)

        async def pump(stream, kind: str) -> None:
            async for text in stream:
                queue.put_nowait((kind, text))

        async def finished() -> int:
            await asyncio.gather(pump(process.stdout, "stdout"), pump(process.stderr, "stderr"))
            return await process.wait.aio()

        waiter = asyncio.create_task(finished())
        try:
            async for event in followed(queue, waiter, started, timeout, translated):
                yield event
        finally:
            waiter.cancel()  # a caller gone: the command ends at its own timeout

    async def _write_whole(self, box: SandboxRecord, path: str, data: bytes) -> None:
        target = shlex.quote(inside(path))
        with translated(path):
            process = await self._exec(box, f'mkdir -p -- "$(dirname -- {target})" && cat > {target}',
                                       config.CALL_TIMEOUT_S, text=False)
            for start in range(0, len(data), CHUNK):
                process.stdin.write(data[start:start + CHUNK])
                await process.stdin.drain.aio()
            process.stdin.write_eof()
            await process.stdin.drain.aio()
            if await process.wait.aio() != 0:
                raise SandboxRefused(f"cannot write {path}: {(await process.stderr.read.aio()).decode()[:200]}")

    async def _read_whole(self, box: SandboxRecord, path: str) -> bytes:
        target = shlex.quote(inside(path))
        # The size is checked inside, before anything is sent: exit 3 says too large.
        with translated(path):
            process = await self._exec(
                box, f"test -f {target} || exit 2; test $(stat -c %s -- {target}) -le {config.MAX_FILE_BYTES} "
                     f"|| exit 3; cat -- {target}", config.CALL_TIMEOUT_S, text=False)
            data, code = await asyncio.gather(process.stdout.read.aio(), process.wait.aio())
        if code == 3:
            raise SandboxRefused(f"{path} is larger than {config.MAX_FILE_BYTES} bytes: download it from "
                                 f"/files/content")
        if code != 0:
            raise SandboxRefused(f"no file {path}", not_found=True)
        return data

    async def delete(self, box: SandboxRecord, keep_workspace: bool) -> None:
        if not box.external_id or box.external_id.startswith(SNAPSHOT):
            return
        sandbox = await self._sandbox(box)
        self._handles.pop(box.external_id, None)
        with translated():
            try:
                if keep_workspace:  # its files as an image the resume starts from
                    image = await sandbox.snapshot_filesystem.aio()
                    box.external_id = SNAPSHOT + image.object_id
                await sandbox.terminate.aio()
            except modal_errors.NotFoundError:
                pass  # already gone: what delete wanted

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        self._handles.clear()
        for client in clients:
            await client.close.aio()


class translated(Translated):
    """The SDK's failures as the sandbox contract's (never its request)."""

    def translate(self, exc: BaseException) -> None:
        if isinstance(exc, (modal_errors.AuthError, modal_errors.PermissionDeniedError)):
            raise ComputeUnreachable(f"Modal refused this account's credentials ({exc}); update them with "
                                     f"POST /v2/account/providers") from None
        if isinstance(exc, modal_errors.NotFoundError):
            raise SandboxRefused(f"no file {self.path}" if self.path else f"Modal: {exc}", not_found=True) from None
        if isinstance(exc, modal_errors.ResourceExhaustedError):
            raise SandboxGone(f"Modal has no capacity or is rate limiting this account: {exc}") from None
        if isinstance(exc, modal_errors.InvalidError):
            raise SandboxRefused(f"Modal refused the request: {exc}") from None
        if isinstance(exc, (modal_errors.Error, TimeoutError, OSError)):
            raise SandboxGone(f"Modal: {exc}") from None
