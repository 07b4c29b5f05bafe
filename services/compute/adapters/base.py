"""The sandbox contract every provider adapter implements (spec/003's
CerverInterface, as Python)."""
import dataclasses
from collections.abc import AsyncIterator
from typing import Protocol

from servicekit.limits import Limits

RUNTIME_ARGV = {"shell": ["/bin/sh", "-c"], "python": ["python3", "-c"], "node": ["node", "-e"]}


@dataclasses.dataclass
class RunEvent:
    type: str  # started | stdout | stderr | exit
    data: str = ""
    exit_code: int = 0
    timed_out: bool = False
    truncated: bool = False
    duration_ms: float = 0.0
    reason: str = ""  # on exit: "" | timeout | oom


class SandboxGone(Exception):
    """The sandbox's process or machine is no longer there."""


class ComputeUnreachable(SandboxGone):
    """The compute's machine is not connected (a relay agent that is not there)."""


class SandboxRefused(Exception):
    """The sandbox could not do what was asked (bad path, no such file, ...)."""

    def __init__(self, message: str, not_found: bool = False):
        super().__init__(message)
        self.not_found = not_found


class SandboxRecord(Protocol):
    """What an adapter is told about a sandbox (the compute service's row)."""
    sandbox_id: str
    compute_id: str
    workspace_id: str
    network: bool


class Adapter(Protocol):
    provider: str

    async def create(self, box: SandboxRecord, limits: Limits) -> str:
        """Start the sandbox within `limits`; returns its workspace id
        (box.workspace_id re-attaches a kept workspace)."""

    def run(self, box: SandboxRecord, runtime: str, code: str, stdin: str, env: dict[str, str],
            timeout: float) -> AsyncIterator[RunEvent]: ...

    async def write_file(self, box: SandboxRecord, path: str, data: bytes) -> int: ...

    async def read_file(self, box: SandboxRecord, path: str) -> bytes: ...

    async def delete(self, box: SandboxRecord, keep_workspace: bool) -> None: ...

    async def close(self) -> None: ...
