"""Computes (where sandboxes run) and sandboxes (the spec/003 contract),
dispatched to the adapter of each compute's provider."""
import asyncio
import collections
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator

from google.protobuf import json_format

from cerver.v2 import node_pb2
from servicekit import errors
from servicekit.clock import now
from servicekit.db import Database
from servicekit.quotas import Quotas
from services.compute.adapters.base import (Adapter, ComputeUnreachable, RunEvent, SandboxGone,
                                           SandboxRefused)
from servicekit import limits as sandbox_limits
from services.compute.isolation.workspaces import WORKSPACE_ID
from services.compute.store import ComputeRow, ComputeStore, SandboxRow

MAX_FILE_BYTES = 8 << 20


def is_online(row: ComputeRow) -> bool:
    if row.provider == "local":
        return True  # served by this process: online while it runs
    return row.last_heartbeat_at is not None and \
        (now() - row.last_heartbeat_at).total_seconds() <= row.heartbeat_window_s


class Computes:
    def __init__(self, db: Database, adapters: dict[str, Adapter], max_sandboxes: int = 256,
                 heartbeat_window_s: int = 60, quotas: Quotas | None = None):
        self.store = ComputeStore(db)
        self.heartbeat_window_s = heartbeat_window_s
        self.adapters = adapters
        self.max_sandboxes = max_sandboxes
        self.quotas = quotas or Quotas()
        self.limits, self.maxima = sandbox_limits.defaults(), sandbox_limits.maxima()
        self.local_compute_id = ""
        # The sandboxes this process serves, so that a run touches no table:
        # they live and die with this process (the rows are the record).
        self._running: dict[str, SandboxRow] = {}
        self._runs: collections.Counter = collections.Counter()  # runs in flight per account
        self._used: dict[str, float] = {}  # sandbox id -> when it last served a call (monotonic)

    # -- registry ------------------------------------------------------------
    async def register_local(self, node: node_pb2.NodeInfo) -> ComputeRow:
        """The shared local compute (this deployment's node), named after the
        node: every replica of this service, and every restart, names it the
        same. Its sandboxes outlive this service; those the node no longer
        holds are gone."""
        capabilities = json_format.MessageToDict(node.capabilities, preserving_proto_field_name=True,
                                                 always_print_fields_with_no_presence=True)
        row = ComputeRow(compute_id=f"comp_local_{node.node_id}", account_id=None, name=f"local ({node.hostname})",
                         provider="local", kind="shared", capabilities_json=json.dumps(capabilities),
                         last_heartbeat_at=now(), created_at=now())
        await self.store.register_shared(row, list(node.sandbox_ids))
        self.local_compute_id = row.compute_id
        for sandbox in await self.store.running():
            self._running[sandbox.sandbox_id] = sandbox
            self._used[sandbox.sandbox_id] = time.monotonic()
        return row

    async def visible(self, account_id: str) -> list[ComputeRow]:
        return await self.store.visible(account_id)

    async def get(self, account_id: str, compute_id: str) -> ComputeRow:
        row = await self.store.compute(compute_id)
        if row is None or row.account_id not in (None, account_id):
            raise errors.not_found("compute", compute_id)
        return row

    def active_sandboxes(self, compute_id: str) -> int:
        return sum(1 for row in self._running.values() if row.compute_id == compute_id)

    async def register(self, account_id: str, name: str, capabilities: dict, compute_id: str) -> ComputeRow:
        if not name or len(name) > 100:
            raise errors.invalid("name is required (at most 100 characters)", "name")
        new = ComputeRow(compute_id="comp_" + secrets.token_hex(10), account_id=account_id, provider="relay",
                         kind="private", name=name, created_at=now(), heartbeat_window_s=self.heartbeat_window_s)
        row = await self.store.save_private(account_id, compute_id, new, name, json.dumps(capabilities))
        if row is None:
            raise errors.not_found("compute", compute_id)
        return row

    async def heartbeat(self, account_id: str, compute_id: str) -> ComputeRow:
        row = await self.get(account_id, compute_id)
        if row.account_id is None:
            raise errors.conflict("the shared local compute needs no heartbeat")
        await self.store.heartbeat(compute_id)
        return await self.get(account_id, compute_id)

    async def unregister(self, account_id: str, compute_id: str) -> None:
        row = await self.get(account_id, compute_id)
        if row.account_id is None:
            raise errors.permission_denied("the shared local compute cannot be unregistered")
        await self.store.delete_compute(compute_id)

    # -- sandboxes -------------------------------------------------------------
    async def _pick_compute(self, account_id: str, compute_id: str, provider: str) -> ComputeRow:
        if compute_id:
            row = await self.get(account_id, compute_id)
        elif provider in ("", "local"):
            row = await self.get(account_id, self.local_compute_id)
        else:
            known = [c for c in await self.visible(account_id) if c.provider == provider]
            if not known:  # no such compute at all: nothing to wait for
                raise errors.not_found("compute of provider", provider[:64])
            online = [c for c in known if is_online(c)]
            if not online:
                raise errors.unavailable(f"no {provider} compute of this account is online")
            row = online[0]
        if provider and provider != row.provider:
            raise errors.invalid(f"compute {row.compute_id} is a {row.provider} compute, not {provider}", "provider")
        if not is_online(row):
            raise errors.unavailable(f"compute {row.compute_id} is offline (no heartbeat within "
                                     f"{row.heartbeat_window_s}s)")
        if row.provider not in self.adapters:
            raise errors.unavailable(f"no adapter serves {row.provider} computes on this deployment")
        return row

    async def create_sandbox(self, account_id: str, compute_id: str, provider: str, requirements,
                             session_id: str, workspace_id: str) -> SandboxRow:
        runtime = requirements.runtime
        network = requirements.package_install or requirements.public_preview or requirements.browser
        limits = sandbox_limits.choose(requirements, self.limits, self.maxima)
        if workspace_id and not WORKSPACE_ID.fullmatch(workspace_id):
            raise errors.not_found("workspace", workspace_id[:40])
        compute = await self._pick_compute(account_id, compute_id, provider)
        if workspace_id:
            await self._check_workspace(account_id, workspace_id)
        live = await self.store.live_sandboxes(account_id)
        if live >= self.quotas.sandboxes:
            raise errors.quota("sandboxes", self.quotas.sandboxes,
                               "live sandboxes of this account; delete one or pause a session")
        on_compute = self.active_sandboxes(compute.compute_id)
        if on_compute >= self.max_sandboxes:
            # The node's own capacity, shared by every account: try again shortly.
            raise errors.quota("node_capacity", self.max_sandboxes, f"sandboxes on compute {compute.compute_id}", 5)
        row = SandboxRow(sandbox_id="sbx_" + secrets.token_hex(10), account_id=account_id,
                         compute_id=compute.compute_id, provider=compute.provider, session_id=session_id,
                         workspace_id=workspace_id, runtime=runtime or "shell", network=network, created_at=now())
        started = time.perf_counter()
        try:
            created = await self.adapters[compute.provider].create(row, limits)
        except ComputeUnreachable as exc:  # a state of that compute, not a failure of ours
            raise errors.conflict(f"compute {compute.compute_id} cannot take sandboxes now: {exc}") from None
        except SandboxGone as exc:
            raise errors.unavailable(str(exc)) from None
        except SandboxRefused as exc:
            raise errors.invalid(str(exc)) from None
        if not WORKSPACE_ID.fullmatch(created or ""):
            # A relay agent is another account's machine: never store (and
            # later mount or delete) a path it made up.
            await self._stop(row)
            raise errors.unavailable(f"compute {compute.compute_id} answered with an invalid workspace id")
        row.workspace_id = created
        row.provision_ms = round((time.perf_counter() - started) * 1000, 3)
        await self.store.add_sandbox(row)
        self._running[row.sandbox_id] = row
        self._used[row.sandbox_id] = time.monotonic()
        return row

    async def _stop(self, row: SandboxRow) -> None:
        with contextlib.suppress(SandboxGone, SandboxRefused):
            row.workspace_id = ""
            await self.adapters[row.provider].delete(row, keep_workspace=False)

    async def _check_workspace(self, account_id: str, workspace_id: str) -> None:
        """A kept workspace may only be re-attached by the account that owns it."""
        owner = await self.store.workspace_owner(workspace_id)
        if owner is None or owner.account_id != account_id:
            raise errors.not_found("workspace", workspace_id)

    async def sandbox(self, account_id: str, sandbox_id: str) -> SandboxRow:
        row = self._running.get(sandbox_id) or await self.store.sandbox(sandbox_id)
        if row is None or row.account_id != account_id or row.status != "running":
            raise errors.not_found("sandbox", sandbox_id)
        if sandbox_id in self._used:
            self._used[sandbox_id] = time.monotonic()
        return row

    async def run(self, account_id: str, sandbox_id: str, runtime: str, code: str, stdin: str,
                  env: dict[str, str], timeout: float) -> AsyncIterator[RunEvent]:
        row = await self.sandbox(account_id, sandbox_id)
        runtime = runtime or row.runtime
        if self._runs[account_id] >= self.quotas.runs:
            raise errors.quota("concurrent_runs", self.quotas.runs, "runs in flight for this account", 1)
        self._runs[account_id] += 1
        try:
            async for event in self.adapters[row.provider].run(row, runtime, code, stdin, env, timeout):
                yield event
        except SandboxGone as exc:
            raise errors.unavailable(f"sandbox {sandbox_id}: {exc}") from None
        except SandboxRefused as exc:
            if exc.not_found:  # its machine restarted and no longer has it
                raise errors.not_found("sandbox", sandbox_id) from None
            raise errors.invalid(str(exc)) from None
        finally:
            self._runs[account_id] -= 1
            if self._runs[account_id] <= 0:
                del self._runs[account_id]

    async def install(self, account_id: str, sandbox_id: str, manager: str, packages: list[str]):
        row = await self.sandbox(account_id, sandbox_id)
        if not row.network:
            raise errors.conflict("this sandbox has no network; create it with requirements.package_install")
        quoted = " ".join("'" + p + "'" for p in packages)
        code = (f"python3 -m pip install --user --break-system-packages --no-input {quoted}" if manager == "pip"
                else f"npm install --no-audit --no-fund {quoted}")
        async for event in self.run(account_id, sandbox_id, "shell", code, "", {}, 600):
            yield event

    async def write_file(self, account_id: str, sandbox_id: str, path: str, data: bytes) -> int:
        row = await self.sandbox(account_id, sandbox_id)
        if not path or path.startswith("/") or len(data) > MAX_FILE_BYTES:
            raise errors.invalid(f"path must be relative to the workspace and content at most {MAX_FILE_BYTES} bytes",
                                 "path")
        return await self._file_call(self.adapters[row.provider].write_file(row, path, data), path)

    async def read_file(self, account_id: str, sandbox_id: str, path: str) -> bytes:
        row = await self.sandbox(account_id, sandbox_id)
        if not path or path.startswith("/"):
            raise errors.invalid("path must be relative to the workspace", "path")
        return await self._file_call(self.adapters[row.provider].read_file(row, path), path)

    @staticmethod
    async def _file_call(call, path: str):
        try:
            return await call
        except SandboxRefused as exc:
            raise (errors.not_found("file", path) if exc.not_found else errors.invalid(str(exc), "path")) from None
        except SandboxGone as exc:
            raise errors.unavailable(str(exc)) from None

    async def get_state(self, account_id: str, sandbox_id: str) -> dict:
        return json.loads((await self.sandbox(account_id, sandbox_id)).state_json)

    async def set_state(self, account_id: str, sandbox_id: str, state: dict) -> dict:
        await self.sandbox(account_id, sandbox_id)
        raw = json.dumps(state)
        if len(raw) > 1 << 20:
            raise errors.invalid("state is at most 1 MiB of JSON", "state")
        await self.store.set_state(sandbox_id, raw)
        if sandbox_id in self._running:
            self._running[sandbox_id].state_json = raw
        return state

    async def delete_sandbox(self, account_id: str, sandbox_id: str, keep_workspace: bool) -> None:
        row = await self.sandbox(account_id, sandbox_id)
        self._running.pop(sandbox_id, None)
        self._used.pop(sandbox_id, None)
        await self.store.mark_deleted(sandbox_id)
        adapter = self.adapters.get(row.provider)
        if adapter is not None:
            try:
                await adapter.delete(row, keep_workspace)
            except SandboxGone:
                pass  # its machine is gone; nothing left to stop

    async def reap_idle(self) -> int:
        """Delete /v2/sandbox sandboxes (no session holds them) unused for the
        idle TTL; sessions' sandboxes follow their sessions' lifecycle."""
        cutoff = time.monotonic() - self.quotas.idle_ttl_s
        idle = [row for sid, row in list(self._running.items())
                if not row.session_id and self._used.get(sid, 0) < cutoff]
        for row in idle:
            with contextlib.suppress(errors.ServiceError):
                await self.delete_sandbox(row.account_id, row.sandbox_id, keep_workspace=False)
        return len(idle)

    async def close(self) -> None:
        await asyncio.gather(*(a.close() for a in self.adapters.values()))
