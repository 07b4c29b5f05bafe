"""The sandbox contract every provider adapter implements (spec/003's
CerverInterface, as Python)."""
import dataclasses
from collections.abc import AsyncIterator
from typing import Protocol

from servicekit.limits import Limits

RUNTIME_ARGV = {"shell": ["/bin/sh", "-c"], "python": ["python3", "-c"], "node": ["node", "-e"]}


def install_command(manager: str, packages: list[str]) -> str:
    """The shell command that installs packages into the workspace (pip:
    the user site under /workspace/.local; npm: ./node_modules). Names are
    held to the contract's pattern: no quote, no leading dash."""
    quoted = " ".join("'" + p + "'" for p in packages)
    if manager == "pip":
        return f"python3 -m pip install --user --break-system-packages --no-input --disable-pip-version-check {quoted}"
    return f"npm install --no-audit --no-fund {quoted}"


@dataclasses.dataclass
class RunEvent:
    type: str  # started | stdout | stderr | exit
    data: str = ""
    exit_code: int = 0
    timed_out: bool = False
    truncated: bool = False
    duration_ms: float = 0.0
    reason: str = ""  # on exit: "" | timeout | oom
    cell: object = None  # on exit of a persistent context's run: its CellResult


@dataclasses.dataclass
class Cell:
    """What a cell of the persistent context did (the CellResult's content)."""
    stdout: list[str] = dataclasses.field(default_factory=list)
    stderr: list[str] = dataclasses.field(default_factory=list)
    results: list[tuple[dict[str, str], bool]] = dataclasses.field(default_factory=list)  # (MIME bundle, main?)
    error_name: str = ""
    error_value: str = ""
    traceback: list[str] = dataclasses.field(default_factory=list)
    timed_out: bool = False
    truncated: bool = False
    context_restarted: bool = False
    duration_ms: float = 0.0


class SandboxGone(Exception):
    """The sandbox's process or machine is no longer there."""


class ComputeUnreachable(SandboxGone):
    """The compute's machine is not connected (a relay agent that is not there)."""


class DirectoryUnavailable(Exception):
    """Where the sandbox is cannot be looked up now (the registry does not
    answer): nothing is known about the sandbox or its machine."""


class SandboxRefused(Exception):
    """The sandbox could not do what was asked (bad path, no such file, ...)."""

    def __init__(self, message: str, not_found: bool = False):
        super().__init__(message)
        self.not_found = not_found


class SandboxRecord(Protocol):
    """What an adapter is told about a sandbox (the compute service's row)."""
    sandbox_id: str
    account_id: str
    compute_id: str
    workspace_id: str
    external_id: str  # a cloud's own name for the sandbox (an adapter sets it at create and pause)
    network: bool
    preview: bool  # a public preview: its port is reached from the edge
    runtime: str  # the language it was made for: shell | python | node | "" (none named)


class Adapter(Protocol):
    provider: str

    async def create(self, box: SandboxRecord, limits: Limits) -> str:
        """Start the sandbox within `limits`; returns its workspace id
        (box.workspace_id re-attaches a kept workspace)."""

    def run(self, box: SandboxRecord, runtime: str, code: str, stdin: str, env: dict[str, str],
            timeout: float) -> AsyncIterator[RunEvent]: ...

    async def write_file(self, box: SandboxRecord, path: str, data: bytes, offset: int = 0) -> int:
        """Writes data afresh (offset 0) or appends it to a file exactly
        offset bytes long; returns the file's size."""

    async def read_file(self, box: SandboxRecord, path: str, offset: int = 0, length: int = 0) -> bytes:
        """At most length bytes from offset (0: to the end, within the read
        limit); fewer at the end of the file."""

    async def move_file(self, box: SandboxRecord, path: str, to: str) -> int: ...

    async def delete(self, box: SandboxRecord, keep_workspace: bool) -> None: ...

    async def close(self) -> None: ...
