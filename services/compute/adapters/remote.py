"""What the adapters of sandboxes that run elsewhere (a cluster, a cloud)
share: a run as one command line bounded by `timeout`, output bounded as a
node bounds it, and the file operations a vendor's API lacks done as runs
of standard tools inside the sandbox."""
import asyncio
import posixpath
import shlex
import time
from collections.abc import AsyncIterator

from cerver.v2 import compute_pb2
from servicekit import config
from services.compute.adapters.base import (RUNTIME_ARGV, RunEvent, SandboxGone, SandboxRecord, SandboxRefused,
                                           install_command)

# What a run ended by `timeout -s KILL` exits with: timeout signals its whole
# process group, itself included, so the runtime sees it killed (-9, as
# Python reports it) or, through a shell, 128 + 9.
KILLED = (-9, 128 + 9)


def command(runtime: str, code: str, stdin: str, env: dict[str, str], timeout: float) -> str:
    """The run as one command line: `timeout` around the runtime's argv,
    the environment set by env(1), stdin piped in (the vendors' exec has no
    stdin of its own)."""
    argv = ["env", *(f"{k}={v}" for k, v in env.items()), *RUNTIME_ARGV[runtime], code]
    if stdin:
        argv = ["sh", "-c", 'input=$1; shift; printf %s "$input" | "$@"', "sh", stdin, *argv]
    return shlex.join(["timeout", "-s", "KILL", f"{timeout:g}", *argv])


def inside(path: str) -> str:
    """path, normalized, when it names something inside the workspace."""
    clean = posixpath.normpath(path or ".")
    if clean == ".." or clean.startswith(("../", "/")):
        raise SandboxRefused("path must stay inside the workspace")
    return clean


def exit_event(exit_code: int, started: float, timeout: float) -> RunEvent:
    elapsed = time.perf_counter() - started
    timed_out = exit_code in KILLED and elapsed >= timeout
    return RunEvent(type="exit", exit_code=exit_code, timed_out=timed_out, duration_ms=round(elapsed * 1000, 3),
                    reason="timeout" if timed_out else "")


def too_large(path: str) -> SandboxRefused:
    return SandboxRefused(f"{path} is larger than {config.MAX_FILE_BYTES} bytes: download it from /files/content")


class Translated:
    """A vendor's failures as the sandbox contract's, around a call (with
    the path it is about, if any); translate() says how, raising."""

    def __init__(self, path: str = ""):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is not None and not isinstance(exc, (SandboxGone, SandboxRefused)):
            self.translate(exc)
        return False

    def translate(self, exc: BaseException) -> None:
        raise NotImplementedError


class Bounded:
    """A run's output kept to the node's limit per stream; past it, the rest
    is dropped and the exit says truncated."""

    def __init__(self):
        self.left = {"stdout": config.settings().sandbox_output_bytes, "stderr": config.settings().sandbox_output_bytes}
        self.truncated = False

    def take(self, kind: str, data: str) -> RunEvent | None:
        left = self.left[kind]
        if len(data.encode()) > left:
            data = data.encode()[:left].decode(errors="ignore")
            self.truncated = True
        self.left[kind] = left - len(data.encode())
        return RunEvent(type=kind, data=data) if data else None


async def followed(queue: asyncio.Queue, task: asyncio.Task, started: float, timeout: float,
                   translated: type[Translated]) -> AsyncIterator[RunEvent]:
    """Output an SDK hands to callbacks ((kind, text) put on queue) as run
    events, bounded, until task (what waits for the command, ending with its
    exit code) is done and the queue is empty; then the exit event. The
    task's failure is raised as translated says."""
    bounded = Bounded()
    while not (task.done() and queue.empty()):
        getter = asyncio.ensure_future(queue.get())
        await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
        if not getter.done():
            getter.cancel()
            continue
        event = bounded.take(*getter.result())
        if event is not None:
            yield event
    with translated():
        exit_code = task.result()
    event = exit_event(exit_code, started, timeout)
    event.truncated = bounded.truncated
    yield event


class ShellFiles:
    """install, move, delete, list and exists as runs (self.run) of standard
    tools, for sandboxes whose API has no call for them."""

    def run(self, box: SandboxRecord, runtime: str, code: str, stdin: str, env: dict[str, str],
            timeout: float) -> AsyncIterator[RunEvent]: ...

    async def _shell(self, box: SandboxRecord, line: str) -> tuple[int, str]:
        out, code = [], -1
        async for event in self.run(box, "shell", line, "", {}, config.CALL_TIMEOUT_S):
            if event.type == "stdout":
                out.append(event.data)
            elif event.type == "exit":
                code = event.exit_code
        return code, "".join(out)

    def install(self, box: SandboxRecord, manager: str, packages: list[str]) -> AsyncIterator[RunEvent]:
        return self.run(box, "shell", install_command(manager, packages), "", config.package_index_env(),
                        config.INSTALL_TIMEOUT_S)

    async def move_file(self, box: SandboxRecord, path: str, to: str) -> int:
        source, target = shlex.quote(inside(path)), shlex.quote(inside(to))
        code, out = await self._shell(box, f'mkdir -p -- "$(dirname -- {target})" && mv -f -T -- {source} {target} '
                                           f'&& stat -c %s -- {target}')
        if code != 0:
            raise SandboxRefused(f"no file {path}", not_found=True)
        return int(out.strip() or 0)

    async def delete_file(self, box: SandboxRecord, path: str) -> None:
        clean = shlex.quote(inside(path))
        code, _ = await self._shell(box, f"test -e {clean} && rm -rf -- {clean}")
        if code != 0:
            raise SandboxRefused(f"no file {path}", not_found=True)

    async def file_exists(self, box: SandboxRecord, path: str) -> compute_pb2.FileExistsResponse:
        code, _ = await self._shell(box, f"test -e {shlex.quote(inside(path))}")
        return compute_pb2.FileExistsResponse(path=path, exists=code == 0)

    async def list_files(self, box: SandboxRecord, path: str) -> compute_pb2.ListFilesResponse:
        folder = inside(path)
        code, out = await self._shell(box, f"test -d {shlex.quote(folder)} && find {shlex.quote(folder)} "
                                           r"-mindepth 1 -maxdepth 1 -printf '%y\t%s\t%T@\t%f\0'")
        if code != 0:
            raise SandboxRefused(f"no folder {path or '.'}", not_found=True)
        listing = compute_pb2.ListFilesResponse(path=path)
        for line in sorted(filter(None, out.split("\0")), key=lambda l: l.split("\t", 3)[-1])[:10_000]:
            kind, size, modified, name = line.split("\t", 3)
            entry = listing.entries.add(name=name, path=posixpath.join(path, name) if path else name,
                                        type={"d": "dir", "f": "file", "l": "symlink"}.get(kind, "other"),
                                        size=int(size))
            entry.modified_at.FromNanoseconds(int(float(modified) * 1e9))
        return listing


class WholeFiles(ShellFiles):
    """write_file and read_file for APIs that move whole files only (an
    adapter's _write_whole and _read_whole): a piece at an offset is
    appended, a range read, by runs."""

    async def _write_whole(self, box: SandboxRecord, path: str, data: bytes) -> None:
        raise NotImplementedError

    async def _read_whole(self, box: SandboxRecord, path: str) -> bytes:
        raise NotImplementedError

    async def write_file(self, box: SandboxRecord, path: str, data: bytes, offset: int = 0) -> int:
        if offset:
            return await self._append(box, path, data, offset)
        await self._write_whole(box, path, data)
        return len(data)

    async def read_file(self, box: SandboxRecord, path: str, offset: int = 0, length: int = 0) -> bytes:
        if offset or length:
            return await self._read_range(box, path, offset, length)
        return await self._read_whole(box, path)

    async def _append(self, box: SandboxRecord, path: str, data: bytes, offset: int) -> int:
        """A piece written at offset, for APIs that write whole files only:
        the piece goes beside the file, then is appended when the file is
        exactly offset bytes long."""
        clean = inside(path)
        piece = f"{clean}.piece-{offset}"
        await self._write_whole(box, piece, data)
        target, part = shlex.quote(clean), shlex.quote(piece)
        code, out = await self._shell(box, f'test "$(stat -c %s -- {target})" = {offset} && cat -- {part} >> {target}; '
                                           f'status=$?; rm -f -- {part}; test $status = 0 && stat -c %s -- {target}')
        if code != 0:
            raise SandboxRefused(f"{path} is not {offset} bytes long: write it from the start")
        return int(out.strip() or 0)

    async def _read_range(self, box: SandboxRecord, path: str, offset: int, length: int) -> bytes:
        """A piece of a file, for APIs that read whole files only: copied
        out by tail/head into a scratch file, which is read and removed."""
        clean = shlex.quote(inside(path))
        scratch = f".cerver-read-{time.monotonic_ns()}"
        head = f" | head -c {length}" if length else ""
        code, _ = await self._shell(box, f"test -f {clean} && tail -c +{offset + 1} -- {clean}{head} > {scratch}")
        if code != 0:
            raise SandboxRefused(f"no file {path}", not_found=True)
        try:
            return await self._read_whole(box, scratch)
        finally:
            await self._shell(box, f"rm -f -- {scratch}")
