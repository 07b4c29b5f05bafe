"""What the cloud vendors' stand-ins run commands on: a folder per sandbox
(its filesystem, the vendor's working directory mapped onto it) and real
processes, so a run's output, exit code and timeout are real. The commands
are the test suite's own."""
import asyncio
import contextlib
import os
import pathlib
import shutil
import signal

from aiohttp import web


class Process:
    """A command running in a VM: its output as (stream, text) in the order
    produced, kept so that a second reader (the vendor's logs endpoint,
    read again) sees it all; the bytes of each stream too, for vendors
    that read output by offset."""

    def __init__(self, process: asyncio.subprocess.Process):
        self.process = process
        self.output: list[tuple[str, str]] = []
        self.raw = {"stdout": bytearray(), "stderr": bytearray()}
        self.changed = asyncio.Condition()
        self.exit_code: int | None = None
        self._pumps = [asyncio.create_task(self._pump(process.stdout, "stdout")),
                       asyncio.create_task(self._pump(process.stderr, "stderr"))]
        self._waiter = asyncio.create_task(self._wait())

    async def _pump(self, stream, kind: str) -> None:
        while chunk := await stream.read(65536):
            async with self.changed:
                self.output.append((kind, chunk.decode(errors="replace")))
                self.raw[kind] += chunk
                self.changed.notify_all()

    async def _wait(self) -> None:
        await asyncio.gather(*self._pumps)
        code = await self.process.wait()
        async with self.changed:
            self.exit_code = code if code >= 0 else 128 - code  # as a shell reports a signal
            self.changed.notify_all()

    async def follow(self):
        """Every piece of output, then returns when the process has ended."""
        seen = 0
        while True:
            async with self.changed:
                await self.changed.wait_for(lambda: len(self.output) > seen or self.exit_code is not None)
                pieces, done = self.output[seen:], self.exit_code is not None and len(self.output) == seen
            if done:
                return
            seen += len(pieces)
            for piece in pieces:
                yield piece

    async def read(self, kind: str, offset: int):
        """The bytes of one stream from offset on, as they come, until the
        process has ended."""
        while True:
            async with self.changed:
                await self.changed.wait_for(lambda: len(self.raw[kind]) > offset or self.exit_code is not None)
                data, done = bytes(self.raw[kind][offset:]), self.exit_code is not None
            if data:
                offset += len(data)
                yield data
            elif done:
                return

    @property
    def stdin(self) -> asyncio.StreamWriter | None:
        return self.process.stdin

    async def wait(self) -> int:
        await asyncio.shield(self._waiter)
        return self.exit_code

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


class VM:
    def __init__(self, root: pathlib.Path, workdir: str):
        self.root = root  # the sandbox's filesystem
        self.workdir = workdir  # the vendor's working directory, mapped onto root
        self.root.mkdir(parents=True, exist_ok=True)
        self.processes: list[Process] = []

    def path(self, path: str, cwd: str = "") -> pathlib.Path | None:
        """A path as the vendor takes it (absolute under workdir, or relative
        to cwd), on the host; None outside the sandbox."""
        full = path if path.startswith("/") else os.path.join(cwd or self.workdir, path)
        rel = os.path.relpath(os.path.normpath(full), self.workdir)
        if rel == ".." or rel.startswith("../"):
            return None
        return self.root / rel

    async def spawn(self, argv: list[str], env: dict[str, str] | None = None, cwd: str = "",
                    stdin: bool = False) -> Process:
        folder = self.path(cwd or self.workdir) or self.root
        process = await asyncio.create_subprocess_exec(
            *argv, cwd=folder, start_new_session=True,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={"PATH": os.environ["PATH"], "HOME": str(self.root), "LANG": "C.UTF-8", **(env or {})})
        running = Process(process)
        self.processes.append(running)
        return running

    def stop(self) -> None:
        for process in self.processes:
            process.kill()

    def copy_to(self, target: pathlib.Path) -> None:
        shutil.copytree(self.root, target, symlinks=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """A vendor's stand-in listening on a loopback port of the system's choosing; its URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
