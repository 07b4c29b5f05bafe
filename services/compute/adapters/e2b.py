"""The `e2b` provider: E2B sandboxes (Firecracker microVMs) through the
official `e2b` SDK, with the account's API key on every call: the control
plane for create, connect (which resumes), pause and kill; envd, the agent
in each sandbox, for commands and files.

- create: AsyncSandbox.create from the `base` template (Python and Node),
  the internet as the requirements ask; a kept workspace is the paused
  sandbox itself, and connect resumes it;
- run: a command (`timeout` inside, so it ends at its own timeout), its
  output as envd streams it;
- files: envd's filesystem (write, read, list, stat, remove, rename);
  ranges and appends as runs;
- pause (delete keeping the workspace): pause, which keeps memory and
  filesystem; delete: kill.
The sandbox's id is kept in the sandbox row, so any replica of compute
serves any call; a connected handle is cached per process."""
import asyncio
import contextlib
import posixpath
import secrets
import time
from collections.abc import AsyncIterator

import httpx
from e2b import AsyncSandbox, CommandExitException
from e2b import exceptions as e2b_errors
from e2b.sandbox.filesystem.filesystem import FileType

from cerver.v2 import compute_pb2
from servicekit import config
from servicekit.limits import Limits
from services.compute.adapters.base import ComputeUnreachable, RunEvent, SandboxGone, SandboxRecord, SandboxRefused
from services.compute.adapters.remote import Translated, WholeFiles, command, followed, inside, too_large

TEMPLATE = "base"  # E2B's default template: Debian with Python and Node
HOME = "/home/user"  # its working directory: the workspace
LIFETIME_S = 3600  # what every plan allows; runs keep extending it
EXTEND_AFTER_S = 600  # a run this long after the last extension extends it again


class E2BProvider(WholeFiles):
    provider = "e2b"

    def __init__(self, credentials):
        self._credentials = credentials
        self._handles: dict[str, tuple[str, AsyncSandbox]] = {}  # external id -> (api key, connected handle)
        self._extended: dict[str, float] = {}  # external id -> when its lifetime last began (monotonic)

    def capabilities(self) -> dict:
        return {"runtimes": ["shell", "python", "node"], "isolated": True, "network": True, "os": "Linux"}

    async def _params(self, box: SandboxRecord) -> dict:
        creds = await self._credentials(box, self.provider)
        settings = config.settings()
        return {"api_key": creds["api_key"], "api_url": settings.e2b_api_url or None,
                "sandbox_url": settings.e2b_sandbox_url or None, "request_timeout": settings.cloud_timeout_s,
                "retries": 3}

    async def _sandbox(self, box: SandboxRecord) -> AsyncSandbox:
        """The sandbox's connected handle (connect once per process and key)."""
        if not box.external_id:
            raise SandboxRefused("the E2B sandbox is not there", not_found=True)
        params = await self._params(box)
        cached = self._handles.get(box.external_id)
        if cached is not None and cached[0] == params["api_key"]:
            return cached[1]
        with translated():
            handle = await AsyncSandbox.connect(box.external_id, timeout=LIFETIME_S, **params)
        self._handles[box.external_id] = (params["api_key"], handle)
        return handle

    # -- the sandbox contract ----------------------------------------------
    async def create(self, box: SandboxRecord, limits: Limits) -> str:
        params = await self._params(box)
        with translated():
            if box.workspace_id:  # resume: connect brings the paused sandbox back
                if not box.external_id:
                    raise SandboxRefused("this workspace was not kept on E2B", not_found=True)
                handle = await AsyncSandbox.connect(box.external_id, timeout=LIFETIME_S, **params)
            else:
                handle = await AsyncSandbox.create(
                    TEMPLATE, timeout=LIFETIME_S, allow_internet_access=box.network,
                    metadata={"cerver_sandbox_id": box.sandbox_id}, **params)
        box.external_id = handle.sandbox_id
        self._handles[box.external_id] = (params["api_key"], handle)
        return box.workspace_id or "ws_" + secrets.token_hex(8)

    async def run(self, box: SandboxRecord, runtime: str, code: str, stdin: str, env: dict[str, str],
                  timeout: float) -> AsyncIterator[RunEvent]:
        sandbox = await self._sandbox(box)
        if time.monotonic() - self._extended.get(box.external_id, 0.0) > EXTEND_AFTER_S:
            # E2B ends a sandbox at the end of its lifetime: one in use lives on.
            with translated():
                await sandbox.set_timeout(LIFETIME_S)
            self._extended[box.external_id] = time.monotonic()
        line = command(runtime or box.runtime or "shell", code, stdin, env, timeout)
        queue: asyncio.Queue = asyncio.Queue()
        yield RunEvent(type="started")
        started = time.perf_counter()
        with translated():
            handle = await sandbox.commands.run(
                line, background=True, cwd=HOME, timeout=timeout + config.RUN_GRACE_S, retain_output=False,
                on_stdout=lambda text: queue.put_nowait(("stdout", text)),
                on_stderr=lambda text: queue.put_nowait(("stderr", text)))
        waiter = asyncio.create_task(_exit_code(handle))
        try:
            async for event in followed(queue, waiter, started, timeout, translated):
                yield event
        finally:
            if not waiter.done():  # the caller went away: the command goes too
                waiter.cancel()
                with contextlib.suppress(Exception):
                    await handle.kill()

    async def _write_whole(self, box: SandboxRecord, path: str, data: bytes) -> None:
        sandbox = await self._sandbox(box)
        with translated(path):
            await sandbox.files.write(posixpath.join(HOME, inside(path)), data)

    async def _read_whole(self, box: SandboxRecord, path: str) -> bytes:
        sandbox = await self._sandbox(box)
        with translated(path):
            info = await sandbox.files.get_info(posixpath.join(HOME, inside(path)))
            if info.size > config.MAX_FILE_BYTES:
                raise too_large(path)
            return bytes(await sandbox.files.read(posixpath.join(HOME, inside(path)), format="bytes"))

    async def move_file(self, box: SandboxRecord, path: str, to: str) -> int:
        sandbox = await self._sandbox(box)
        with translated(path):
            moved = await sandbox.files.rename(posixpath.join(HOME, inside(path)), posixpath.join(HOME, inside(to)))
            return (await sandbox.files.get_info(moved.path)).size

    async def delete_file(self, box: SandboxRecord, path: str) -> None:
        sandbox = await self._sandbox(box)
        with translated(path):
            await sandbox.files.remove(posixpath.join(HOME, inside(path)))

    async def file_exists(self, box: SandboxRecord, path: str) -> compute_pb2.FileExistsResponse:
        sandbox = await self._sandbox(box)
        with translated(path):
            return compute_pb2.FileExistsResponse(
                path=path, exists=await sandbox.files.exists(posixpath.join(HOME, inside(path))))

    async def list_files(self, box: SandboxRecord, path: str) -> compute_pb2.ListFilesResponse:
        sandbox = await self._sandbox(box)
        with translated(path or "."):
            entries = await sandbox.files.list(posixpath.join(HOME, inside(path)), depth=1)
        listing = compute_pb2.ListFilesResponse(path=path)
        for e in sorted(entries, key=lambda e: e.name)[:10_000]:
            entry = listing.entries.add(name=e.name, path=posixpath.join(path, e.name) if path else e.name,
                                        type="dir" if e.type == FileType.DIR else "file", size=e.size)
            if e.modified_time:
                entry.modified_at.FromDatetime(e.modified_time)
        return listing

    async def delete(self, box: SandboxRecord, keep_workspace: bool) -> None:
        if not box.external_id:
            return
        params = await self._params(box)
        self._handles.pop(box.external_id, None)
        with translated():
            try:
                if keep_workspace:  # memory and filesystem kept; connect resumes it
                    await AsyncSandbox.pause(box.external_id, **params)
                else:
                    await AsyncSandbox.kill(box.external_id, **params)
            except e2b_errors.NotFoundException:
                pass  # already gone: what delete wanted

    async def close(self) -> None:
        self._handles.clear()


async def _exit_code(handle) -> int:
    try:
        return (await handle.wait()).exit_code
    except CommandExitException as exc:  # the SDK raises for a non-zero exit
        return exc.exit_code


class translated(Translated):
    """The SDK's failures as the sandbox contract's (never its request)."""

    def translate(self, exc: BaseException) -> None:
        if isinstance(exc, e2b_errors.AuthenticationException):
            raise ComputeUnreachable(f"E2B refused this account's credentials ({exc}); update them with "
                                     f"POST /v2/account/providers") from None
        if isinstance(exc, e2b_errors.NotFoundException):
            raise SandboxRefused(f"no file {self.path}" if self.path else "the E2B sandbox is gone",
                                 not_found=True) from None
        if isinstance(exc, e2b_errors.RateLimitException):
            raise SandboxGone(f"E2B is rate limiting this account: {exc}") from None
        if isinstance(exc, e2b_errors.InvalidArgumentException):
            raise SandboxRefused(f"E2B refused the request: {exc}") from None
        if isinstance(exc, (e2b_errors.SandboxException, e2b_errors.ServiceBusyException, TimeoutError, OSError,
                            httpx.TransportError)):  # the SDK's HTTP client could not reach E2B
            raise SandboxGone(f"E2B: {exc}") from None
