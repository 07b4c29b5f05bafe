"""The `daytona` provider: Daytona sandboxes through the official `daytona`
SDK, with the account's API key (and organization, target when given): the
API for create, start, stop and delete; each sandbox's toolbox for commands
and files.

- create: from Daytona's default snapshot, network blocked unless the
  requirements ask for it, never stopped by Daytona while Cerver holds it;
- run: a command (`timeout` inside) run asynchronously in the sandbox's
  process session, its output followed over the toolbox's log WebSocket,
  its exit read when the logs end;
- files: the toolbox's (upload, download, list, info, move, delete);
  ranges and appends as runs;
- pause (delete keeping the workspace): stop, which keeps the disk; resume
  starts it again; delete: delete.
The sandbox's id is kept in the sandbox row, so any replica of compute
serves any call; one client per API key is kept per process."""
import asyncio
import contextlib
import hashlib
import posixpath
import secrets
import time
from collections.abc import AsyncIterator

from daytona import (AsyncDaytona, CreateSandboxFromSnapshotParams, DaytonaAuthenticationError, DaytonaBadRequestError,
                     DaytonaConfig, DaytonaError, DaytonaForbiddenError, DaytonaNotFoundError, DaytonaRateLimitError,
                     SessionExecuteRequest)

from cerver.v2 import compute_pb2
from servicekit import config
from servicekit.limits import Limits
from services.compute.adapters.base import ComputeUnreachable, RunEvent, SandboxGone, SandboxRecord, SandboxRefused
from services.compute.adapters.remote import Translated, WholeFiles, command, followed, inside, too_large
from services.compute.adapters.rest import retrying

SESSION = "cerver"  # the process session runs go through, one per sandbox


class DaytonaProvider(WholeFiles):
    provider = "daytona"

    def __init__(self, credentials):
        self._credentials = credentials
        self._clients: dict[str, AsyncDaytona] = {}  # digest of the credentials -> client
        self._handles: dict[str, tuple[AsyncDaytona, object]] = {}  # sandbox id -> (its client, its handle)
        self._sessions: set[str] = set()  # sandboxes whose session this process made

    def capabilities(self) -> dict:
        return {"runtimes": ["shell", "python", "node"], "isolated": True, "network": True, "os": "Linux"}

    async def _client(self, box: SandboxRecord) -> AsyncDaytona:
        creds = await self._credentials(box, self.provider)
        digest = hashlib.sha256(repr(sorted(creds.items())).encode()).hexdigest()
        client = self._clients.get(digest)
        if client is None:
            client = self._clients[digest] = AsyncDaytona(DaytonaConfig(
                api_key=creds["api_key"], api_url=config.settings().daytona_api_url,
                organization_id=creds.get("organization_id") or None, target=creds.get("target") or None))
        return client

    async def _sandbox(self, box: SandboxRecord):
        """The sandbox's handle (looked up once per process and credentials)."""
        if not box.external_id:
            raise SandboxRefused("the Daytona sandbox is not there", not_found=True)
        client = await self._client(box)
        cached = self._handles.get(box.external_id)
        if cached is not None and cached[0] is client:
            return cached[1]
        with translated():
            sandbox = await _control(lambda: client.get(box.external_id))
        self._handles[box.external_id] = (client, sandbox)
        return sandbox

    # -- the sandbox contract ----------------------------------------------
    async def create(self, box: SandboxRecord, limits: Limits) -> str:
        client = await self._client(box)
        with translated():
            if box.workspace_id:  # resume: the stopped sandbox, its disk as it was
                if not box.external_id:
                    raise SandboxRefused("this workspace was not kept on Daytona", not_found=True)
                sandbox = await _control(lambda: client.get(box.external_id))
                await _control(lambda: sandbox.start(timeout=config.CREATE_TIMEOUT_S))
            else:
                sandbox = await _control(lambda: client.create(CreateSandboxFromSnapshotParams(
                    language="python", network_block_all=not box.network, auto_stop_interval=0,
                    labels={"cerver.sandbox": box.sandbox_id}), timeout=config.CREATE_TIMEOUT_S))
        box.external_id = sandbox.id
        self._handles[sandbox.id] = (client, sandbox)
        return box.workspace_id or "ws_" + secrets.token_hex(8)

    async def _session_run(self, sandbox, line: str) -> str:
        """The command started in the sandbox's session (made on first use,
        and again when the sandbox restarted without it); its id."""
        request = SessionExecuteRequest(command=line, run_async=True)
        if sandbox.id not in self._sessions:
            with contextlib.suppress(DaytonaError):  # there already (another replica made it)
                await sandbox.process.create_session(SESSION)
            self._sessions.add(sandbox.id)
        try:
            return (await sandbox.process.execute_session_command(SESSION, request)).cmd_id
        except DaytonaNotFoundError:
            await sandbox.process.create_session(SESSION)
            return (await sandbox.process.execute_session_command(SESSION, request)).cmd_id

    async def run(self, box: SandboxRecord, runtime: str, code: str, stdin: str, env: dict[str, str],
                  timeout: float) -> AsyncIterator[RunEvent]:
        sandbox = await self._sandbox(box)
        line = command(runtime or box.runtime or "shell", code, stdin, env, timeout)
        queue: asyncio.Queue = asyncio.Queue()
        yield RunEvent(type="started")
        started = time.perf_counter()
        with translated():
            command_id = await self._session_run(sandbox, line)

        async def logs_then_exit() -> int:
            await sandbox.process.get_session_command_logs_async(
                SESSION, command_id, lambda text: queue.put_nowait(("stdout", text)),
                lambda text: queue.put_nowait(("stderr", text)))
            exit_code = (await sandbox.process.get_session_command(SESSION, command_id)).exit_code
            if exit_code is None:
                raise SandboxGone("Daytona ended the command's logs before it exited")
            return exit_code

        follower = asyncio.create_task(logs_then_exit())
        try:
            async for event in followed(queue, follower, started, timeout, translated):
                yield event
        finally:
            follower.cancel()

    async def _write_whole(self, box: SandboxRecord, path: str, data: bytes) -> None:
        sandbox = await self._sandbox(box)
        with translated(path):
            await sandbox.fs.upload_file(data, inside(path))

    async def _read_whole(self, box: SandboxRecord, path: str) -> bytes:
        sandbox = await self._sandbox(box)
        with translated(path):
            info = await sandbox.fs.get_file_info(inside(path))
            if info.size > config.MAX_FILE_BYTES:
                raise too_large(path)
            return bytes(await sandbox.fs.download_file(inside(path)))

    async def move_file(self, box: SandboxRecord, path: str, to: str) -> int:
        sandbox = await self._sandbox(box)
        with translated(path):
            await sandbox.fs.move_files(inside(path), inside(to))
            return (await sandbox.fs.get_file_info(inside(to))).size

    async def delete_file(self, box: SandboxRecord, path: str) -> None:
        sandbox = await self._sandbox(box)
        with translated(path):
            await sandbox.fs.delete_file(inside(path), recursive=True)

    async def file_exists(self, box: SandboxRecord, path: str) -> compute_pb2.FileExistsResponse:
        sandbox = await self._sandbox(box)
        try:
            with translated(path):
                await sandbox.fs.get_file_info(inside(path))
        except SandboxRefused as exc:
            if not exc.not_found:
                raise
            return compute_pb2.FileExistsResponse(path=path, exists=False)
        return compute_pb2.FileExistsResponse(path=path, exists=True)

    async def list_files(self, box: SandboxRecord, path: str) -> compute_pb2.ListFilesResponse:
        sandbox = await self._sandbox(box)
        with translated(path or "."):
            entries = await sandbox.fs.list_files(inside(path))
        listing = compute_pb2.ListFilesResponse(path=path)
        for e in sorted(entries, key=lambda e: e.name)[:10_000]:
            entry = listing.entries.add(name=e.name, path=posixpath.join(path, e.name) if path else e.name,
                                        type="dir" if e.is_dir else "file", size=e.size)
            if e.modified_at:
                entry.modified_at.FromJsonString(e.modified_at.replace("+00:00", "Z"))
        return listing

    async def delete(self, box: SandboxRecord, keep_workspace: bool) -> None:
        if not box.external_id:
            return
        self._sessions.discard(box.external_id)
        self._handles.pop(box.external_id, None)
        client = await self._client(box)
        try:
            with translated():
                sandbox = await _control(lambda: client.get(box.external_id))
                if keep_workspace:  # a stopped sandbox keeps its disk; start resumes it
                    await _control(lambda: sandbox.stop(timeout=config.CREATE_TIMEOUT_S))
                else:
                    await _control(lambda: client.delete(sandbox))
        except SandboxRefused as exc:
            if not exc.not_found:  # already gone: what delete wanted
                raise

    async def close(self) -> None:
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.close()
        self._clients.clear()
        self._handles.clear()


async def _control(call):
    """A call to Daytona's API, retried by the one policy when it rate limits."""
    async for attempt in retrying(lambda exc: isinstance(exc, DaytonaRateLimitError)):
        with attempt:
            return await call()


class translated(Translated):
    """The SDK's failures as the sandbox contract's (never its request)."""

    def translate(self, exc: BaseException) -> None:
        if isinstance(exc, (DaytonaAuthenticationError, DaytonaForbiddenError)):
            raise ComputeUnreachable("Daytona refused this account's credentials; update them with "
                                     "POST /v2/account/providers") from None
        if isinstance(exc, DaytonaNotFoundError):
            raise SandboxRefused(f"no file {self.path}" if self.path else "the Daytona sandbox is gone",
                                 not_found=True) from None
        if isinstance(exc, DaytonaRateLimitError):
            raise SandboxGone("Daytona is rate limiting this account") from None
        if isinstance(exc, DaytonaBadRequestError):
            raise SandboxRefused(f"Daytona refused the request: {exc}") from None
        if isinstance(exc, (DaytonaError, TimeoutError, OSError)):
            raise SandboxGone(f"Daytona: {exc}") from None
