"""Computes (where sandboxes run) and sandboxes (the spec/003 contract),
dispatched to the adapter of each compute's provider."""
import asyncio
import collections
import contextlib
import json
import logging
import math
import posixpath
import secrets
import socket
import time
from collections.abc import AsyncIterator

import grpc
from google.protobuf import json_format

from cerver.v2 import compute_pb2, node_pb2
from servicekit import config, errors
from servicekit.clock import now
from servicekit.db import Database
from servicekit.quotas import Quotas
from services.compute.adapters.base import (Adapter, ComputeUnreachable, RunEvent, SandboxGone,
                                           SandboxRefused)
from services.compute.cloud import CloudAccounts
from servicekit import limits as sandbox_limits
from services.compute.isolation.workspaces import WORKSPACE_ID
from services.compute.store import ComputeRow, ComputeStore, SandboxRow
from services.node.client import clients

log = logging.getLogger(__name__)



def _check_path(path: str, field: str = "path") -> None:
    if not path or path.startswith("/"):
        raise errors.invalid("path must be relative to the workspace", field)


def is_online(row: ComputeRow) -> bool:
    """Heard from within its window; a cloud compute while it is enabled."""
    if row.kind == "cloud":
        return row.last_heartbeat_at is not None
    return row.last_heartbeat_at is not None and \
        (now() - row.last_heartbeat_at).total_seconds() <= row.heartbeat_window_s


def _capacity(row: ComputeRow) -> int:
    """How many sandboxes a compute takes (as its machine says, else the
    deployment's setting)."""
    return json.loads(row.capabilities_json).get("max_sandboxes") or config.settings().max_sandboxes


async def _resolve_all(addresses: list[str]) -> list[str]:
    """host:port of every address a name resolves to (a headless Service
    names every node pod); an address that does not resolve is skipped."""
    loop = asyncio.get_running_loop()
    out: list[str] = []
    for address in addresses:
        host, _, port = address.rpartition(":")
        host = host.strip("[]")
        try:
            infos = await loop.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
        except (OSError, ValueError) as exc:
            log.info("node address %s does not resolve: %s", address, exc)
            continue
        for family, _, _, _, sockaddr in infos:
            resolved = f"[{sockaddr[0]}]:{sockaddr[1]}" if family == socket.AF_INET6 else f"{sockaddr[0]}:{sockaddr[1]}"
            if resolved not in out:
                out.append(resolved)
    return out


class Computes:
    def __init__(self, db: Database, adapters: dict[str, Adapter] | None = None, heartbeat_window_s: int = 60,
                 quotas: Quotas | None = None, cloud: CloudAccounts | None = None):
        """adapters: those of providers whose sandboxes are not on a node
        runtime (this deployment's nodes and relay machines always are);
        cloud: the cloud providers' adapters, which accounts enable."""
        self.store = ComputeStore(db)
        self.heartbeat_window_s = heartbeat_window_s
        self.cloud = cloud
        self.adapters = {**clients(self), **(adapters or {}), **(cloud.adapters if cloud else {})}
        self.quotas = quotas or Quotas()
        self.limits, self.maxima = sandbox_limits.defaults(), sandbox_limits.maxima()
        # Recently used sandboxes, so that a run touches no table (the rows
        # are the record; any replica reads what another created).
        self._running: dict[str, SandboxRow] = {}
        self._runs: collections.Counter = collections.Counter()  # runs in flight per account
        self._used: dict[str, float] = {}  # sandbox id -> when it last served a call (monotonic)
        self._addresses: dict[str, str] = {}  # a node's compute id -> its address

    # -- nodes -----------------------------------------------------------------
    def _shared(self, compute_id: str, provider: str, name: str, capabilities: dict, address: str = "",
                boot_id: str = "") -> ComputeRow:
        return ComputeRow(compute_id=compute_id, account_id=None, name=name, provider=provider, kind="shared",
                          capabilities_json=json.dumps(capabilities), address=address, boot_id=boot_id,
                          heartbeat_window_s=math.ceil(3 * config.settings().node_poll_s), last_heartbeat_at=now(),
                          created_at=now())

    async def observe_node(self, address: str, node: node_pb2.NodeInfo, asked_at) -> ComputeRow:
        """A node answered: its shared compute (named after the node, so every
        replica of this service and every restart names it the same) is
        online at that address. When the node process is new, what it no
        longer holds is gone."""
        capabilities = json_format.MessageToDict(node.capabilities, preserving_proto_field_name=True,
                                                 always_print_fields_with_no_presence=True)
        row = self._shared(f"comp_local_{node.node_id}", "local", f"local ({node.hostname})", capabilities,
                           address, node.boot_id)
        if node.preview_port:  # on the host the node was reached at
            row.preview_address = f"{address.rpartition(':')[0]}:{node.preview_port}"
        if await self.store.observe_shared(row, list(node.sandbox_ids), asked_at):
            for sandbox_id in [s for s, r in self._running.items() if r.compute_id == row.compute_id]:
                self._running.pop(sandbox_id, None)
                self._used.pop(sandbox_id, None)
        self._addresses[row.compute_id] = address
        return row

    async def poll(self, wait_s: float = 0.0) -> int:
        """Asks every node of the deployment, and every provider that runs
        sandboxes elsewhere for the deployment (a cluster), whether it is
        there and what it holds: their heartbeat. How many answered. wait_s
        > 0 waits that long for nodes still starting."""
        node = self.adapters["local"]
        addresses = await _resolve_all(config.node_addrs())

        async def ask_node(address: str) -> bool:
            asked_at = now()
            try:
                info = await node.describe(address, wait_s or config.settings().node_poll_s)
            except grpc.aio.AioRpcError as err:
                log.info("node %s did not answer: %s", address, err.code().name)
                return False
            await self.observe_node(address, info, asked_at)
            return True

        async def ask_provider(adapter) -> bool:
            capabilities = await adapter.describe()
            row = self._shared(f"comp_{adapter.provider}", adapter.provider, adapter.name(), capabilities or {})
            if capabilities is None:  # listed, offline: the deployment has it, it does not answer
                row.last_heartbeat_at = None
                await self.store.add_compute(row)
                return False
            await self.store.observe_shared(row, None, now())
            return True

        pools = [a for a in self.adapters.values() if hasattr(a, "describe") and a.provider not in ("local", "relay")]
        if self.cloud is not None:  # the deployment's own cloud providers: there while configured
            await self.store.sync_cloud(None, [self.cloud.row(p, None, self.adapters[p].capabilities())
                                               for p in self.cloud.deployment])
        return sum(await asyncio.gather(*(ask_node(a) for a in addresses), *(ask_provider(a) for a in pools)))

    async def node_address(self, compute_id: str) -> str:
        """Where a node's compute is reached (the data path's resolver)."""
        address = self._addresses.get(compute_id)
        if address is None:
            row = await self.store.compute(compute_id)
            if row is None or row.provider != "local" or not row.address:
                raise errors.not_found("node of compute", compute_id)
            address = self._addresses[compute_id] = row.address
        return address

    def forget_address(self, compute_id: str) -> None:
        self._addresses.pop(compute_id, None)

    async def preview_address(self, compute_id: str) -> str:
        """Where a node's preview listener is reached; empty when it has none."""
        row = await self.store.compute(compute_id)
        return row.preview_address if row is not None and row.provider == "local" else ""

    # -- registry ------------------------------------------------------------
    async def visible(self, account_id: str) -> list[ComputeRow]:
        if self.cloud is None:
            return await self.store.visible(account_id)
        # Read while auth answers; again only when the account's providers changed.
        changed, rows = await asyncio.gather(self._sync_cloud(account_id), self.store.visible(account_id))
        return await self.store.visible(account_id) if changed else rows

    async def _sync_cloud(self, account_id: str) -> bool:
        """The account's cloud computes as its enabled providers are now; True if that changed them."""
        try:
            enabled = await self.cloud.enabled(account_id)
        except grpc.aio.AioRpcError as err:  # shown as last known; auth is back soon
            log.warning("auth did not list the account's providers: %s", err.code().name)
            return False
        return await self.store.sync_cloud(account_id, [self.cloud.row(p, account_id, self.adapters[p].capabilities())
                                                        for p in enabled])

    async def get(self, account_id: str, compute_id: str) -> ComputeRow:
        row = await self.store.compute(compute_id)
        if row is None or row.account_id not in (None, account_id):
            raise errors.not_found("compute", compute_id)
        return row

    async def load(self) -> dict[str, int]:
        """Live sandboxes per compute."""
        return await self.store.load()

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
    async def _pick_compute(self, account_id: str, compute_id: str, provider: str,
                            load: dict[str, int]) -> ComputeRow:
        if compute_id:
            row = await self.get(account_id, compute_id)
        elif provider in ("", "local"):
            row = await self._place(load)
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

    async def _place(self, load: dict[str, int]) -> ComputeRow:
        """The online node with the most room (free share of its capacity,
        then most memory)."""
        nodes = [c for c in await self.store.shared("local") if is_online(c)]
        if not nodes:
            raise errors.unavailable("no node of this deployment is online")
        return max(nodes, key=lambda row: (1 - load.get(row.compute_id, 0) / _capacity(row),
                                           json.loads(row.capabilities_json).get("memory_mb", 0)))

    async def create_sandbox(self, account_id: str, compute_id: str, provider: str, requirements,
                             session_id: str, workspace_id: str) -> SandboxRow:
        runtime = requirements.runtime
        network = sandbox_limits.needs_network(requirements)
        limits = sandbox_limits.choose(requirements, self.limits, self.maxima)
        if workspace_id and not WORKSPACE_ID.fullmatch(workspace_id):
            raise errors.not_found("workspace", workspace_id[:40])
        load, live = await self.store.occupancy(account_id)
        compute = await self._pick_compute(account_id, compute_id, provider, load)
        owner = await self._check_workspace(account_id, workspace_id) if workspace_id else None
        if live >= self.quotas.sandboxes:
            raise errors.quota("sandboxes", self.quotas.sandboxes,
                               "live sandboxes of this account; delete one or pause a session")
        if load.get(compute.compute_id, 0) >= _capacity(compute):
            # The machine's own capacity, shared by every account: try again shortly.
            raise errors.quota("node_capacity", _capacity(compute), f"sandboxes on compute {compute.compute_id}", 5)
        row = SandboxRow(sandbox_id="sbx_" + secrets.token_hex(10), account_id=account_id,
                         compute_id=compute.compute_id, provider=compute.provider, session_id=session_id,
                         workspace_id=workspace_id, runtime=runtime, network=network,
                         preview=requirements.public_preview, created_at=now())
        if owner is not None:  # re-attached: the provider's name for what was kept
            row.external_id = owner.external_id
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

    async def _check_workspace(self, account_id: str, workspace_id: str) -> SandboxRow:
        """A kept workspace may only be re-attached by the account that owns it."""
        owner = await self.store.workspace_owner(workspace_id)
        if owner is None or owner.account_id != account_id:
            raise errors.not_found("workspace", workspace_id)
        return owner

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

    async def run_cell(self, account_id: str, sandbox_id: str, code: str, timeout: float) -> compute_pb2.CellResult:
        row = await self.sandbox(account_id, sandbox_id)
        adapter = self.adapters[row.provider]
        if not hasattr(adapter, "run_cell"):
            raise errors.conflict(f"{row.provider} sandboxes have no persistent context; run code with "
                                  f"POST /v2/sandbox/{sandbox_id}/run")
        return await self._call(adapter.run_cell(row, code, timeout), "sandbox", sandbox_id)

    async def restart_context(self, account_id: str, sandbox_id: str) -> None:
        row = await self.sandbox(account_id, sandbox_id)
        adapter = self.adapters[row.provider]
        if hasattr(adapter, "restart_context"):
            await self._call(adapter.restart_context(row), "sandbox", sandbox_id)

    async def install(self, account_id: str, sandbox_id: str, manager: str, packages: list[str]):
        """Packages into the workspace, from the deployment's index; a
        sandbox without network gets it for the install only."""
        row = await self.sandbox(account_id, sandbox_id)
        if not packages:
            raise errors.invalid("name a package (package or packages)", "packages")
        try:
            async for event in self.adapters[row.provider].install(row, manager, packages):
                yield event
        except SandboxGone as exc:
            raise errors.unavailable(f"sandbox {sandbox_id}: {exc}") from None
        except SandboxRefused as exc:
            raise (errors.not_found("sandbox", sandbox_id) if exc.not_found else errors.invalid(str(exc))) from None

    async def write_file(self, account_id: str, sandbox_id: str, path: str, data: bytes, offset: int = 0) -> int:
        row = await self.sandbox(account_id, sandbox_id)
        _check_path(path)
        if len(data) > config.MAX_FILE_BYTES:
            raise errors.invalid(f"content is at most {config.MAX_FILE_BYTES} bytes: upload larger files to "
                                 f"/files/content", "content")
        return await self._file_call(self.adapters[row.provider].write_file(row, path, data, offset), path)

    async def read_file(self, account_id: str, sandbox_id: str, path: str, offset: int = 0,
                        length: int = 0) -> bytes:
        row = await self.sandbox(account_id, sandbox_id)
        _check_path(path)
        return await self._file_call(self.adapters[row.provider].read_file(row, path, offset, length), path)

    async def move_file(self, account_id: str, sandbox_id: str, path: str, to: str) -> int:
        row = await self.sandbox(account_id, sandbox_id)
        _check_path(path)
        _check_path(to, "to_path")
        return await self._file_call(self.adapters[row.provider].move_file(row, path, to), path)

    async def upload(self, account_id: str, sandbox_id: str, path: str, pieces: AsyncIterator[bytes]) -> int:
        """A file of any size, written piece by piece under a temporary name
        beside it and renamed once whole: an upload cut off midway leaves
        what was there, and no piece is held here longer than it takes to
        pass it on."""
        row = await self.sandbox(account_id, sandbox_id)
        _check_path(path)
        adapter = self.adapters[row.provider]
        folder, name = posixpath.split(path)
        temp = posixpath.join(folder, f".{name}.upload-{secrets.token_hex(6)}")
        offset, pending = 0, bytearray()
        try:
            async for piece in pieces:
                pending += piece
                while len(pending) >= config.FILE_PIECE_BYTES:
                    offset = await self._file_call(adapter.write_file(
                        row, temp, bytes(pending[:config.FILE_PIECE_BYTES]), offset), path)
                    del pending[:config.FILE_PIECE_BYTES]
            if pending or not offset:  # the rest; an empty file is a file too
                await self._file_call(adapter.write_file(row, temp, bytes(pending), offset), path)
            return await self._file_call(adapter.move_file(row, temp, path), path)
        except BaseException:
            # The caller went away or a piece failed: no half file is left.
            with contextlib.suppress(Exception):
                await asyncio.shield(adapter.delete_file(row, temp))
            raise

    async def download(self, account_id: str, sandbox_id: str, path: str) -> AsyncIterator[bytes]:
        """A file of any size, read piece by piece as the caller takes them."""
        row = await self.sandbox(account_id, sandbox_id)
        _check_path(path)
        adapter, offset = self.adapters[row.provider], 0
        while True:
            piece = await self._file_call(adapter.read_file(row, path, offset, config.FILE_PIECE_BYTES), path)
            if piece or not offset:
                yield piece
            if len(piece) < config.FILE_PIECE_BYTES:
                return
            offset += len(piece)

    async def file_op(self, account_id: str, sandbox_id: str, op: str, path: str):
        """list_files, file_exists or delete_file on a sandbox's workspace."""
        row = await self.sandbox(account_id, sandbox_id)
        adapter = self.adapters[row.provider]
        if not hasattr(adapter, op):
            raise errors.conflict(f"{row.provider} sandboxes do not offer {op.replace('_', ' ')}")
        return await self._file_call(getattr(adapter, op)(row, path), path or ".")

    @staticmethod
    async def _file_call(call, path: str):
        return await Computes._call(call, "file", path, "path")

    @staticmethod
    async def _call(call, kind: str, name: str, field: str = ""):
        """A sandbox call's failures as the contract's: what is not found,
        what was refused, a sandbox that is not there."""
        try:
            return await call
        except SandboxRefused as exc:
            raise (errors.not_found(kind, name) if exc.not_found else errors.invalid(str(exc), field)) from None
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

    async def delete_sandbox(self, account_id: str, sandbox_id: str, keep_workspace: bool) -> bool:
        """Whether the workspace was kept (asked, and the provider can)."""
        row = await self.sandbox(account_id, sandbox_id)
        self._running.pop(sandbox_id, None)
        self._used.pop(sandbox_id, None)
        await self.store.mark_deleted(sandbox_id)
        adapter = self.adapters.get(row.provider)
        keep_workspace = keep_workspace and getattr(adapter, "keeps_workspaces", True)
        if adapter is not None:
            external_id = row.external_id
            try:
                await adapter.delete(row, keep_workspace)
            except SandboxGone:
                pass  # its machine is gone; nothing left to stop
            if row.external_id != external_id:  # kept under a new name (a cloud's snapshot)
                await self.store.set_external_id(sandbox_id, row.external_id)
        return keep_workspace

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
