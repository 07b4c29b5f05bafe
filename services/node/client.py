"""Clients of the node runtime: each sandbox call travels as a RelayCall and
comes back as RelayReplies, straight to the deployment's node that holds the
sandbox (NodeClient, the `local` provider) or through the relay to a private
machine's socket (RelayClient, the `relay` provider). The compute service uses
them as its adapters (control path); sessions sends runs through them
straight to the node that holds the sandbox (data path)."""
import base64
from collections.abc import AsyncIterator
from typing import Protocol

import grpc

from cerver.v2 import common_pb2, compute_pb2, compute_pb2_grpc, node_pb2, node_pb2_grpc, relay_pb2, relay_pb2_grpc
from servicekit import auth, config, errors, peers
from services.compute.adapters.base import (ComputeUnreachable, DirectoryUnavailable, RunEvent, SandboxGone,
                                            SandboxRecord, SandboxRefused)
from servicekit.limits import Limits


def run_event(out: compute_pb2.SandboxOutput) -> RunEvent:
    """A run's event as the contract carries it, as the adapters yield it."""
    return RunEvent(type=out.type, data=out.data, exit_code=out.exit_code, timed_out=out.timed_out,
                    truncated=out.truncated, duration_ms=out.duration_ms, reason=out.reason)


class CallAdapter:
    provider = ""

    def _send(self, request: relay_pb2.RelayCall, metadata, timeout: float) -> AsyncIterator[relay_pb2.RelayReply]:
        raise NotImplementedError

    async def _call(self, box: SandboxRecord, timeout: float = config.CALL_TIMEOUT_S,
                    **call) -> AsyncIterator[relay_pb2.RelayReply]:
        request = relay_pb2.RelayCall(compute_id=box.compute_id, sandbox_id=box.sandbox_id, **call)
        # The receiver checks the compute belongs to the account it acts for.
        metadata = auth.service_metadata(auth.account_id())
        try:
            async for reply in self._send(request, metadata, timeout):
                yield reply
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                raise SandboxRefused(errors.describe(err), not_found=True) from None
            if err.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise SandboxRefused(errors.describe(err)) from None
            if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                self._missed(box)
                raise ComputeUnreachable(errors.describe(err)) from None
            raise SandboxGone(errors.describe(err)) from None

    def _missed(self, box: SandboxRecord) -> None:
        """The machine of box did not answer."""

    async def _one(self, box: SandboxRecord, timeout: float = config.CALL_TIMEOUT_S, **call) -> relay_pb2.RelayReply:
        # Read to the call's end (its status follows the one reply at once):
        # a call left open would be cancelled only when collected, seconds later.
        replies = [reply async for reply in self._call(box, timeout, **call)]
        if not replies:
            raise SandboxGone("the node sent no answer")
        return replies[0]

    async def create(self, box: SandboxRecord, limits: Limits) -> str:
        requirements = common_pb2.Requirements(runtime=box.runtime, package_install=box.network,
                                               public_preview=box.preview,
                                               memory_mb=limits.memory_mb,
                                               cpus=limits.cpus, max_processes=limits.pids, disk_mb=limits.disk_mb,
                                               tmp_mb=limits.tmp_mb or None)  # unset: half of memory
        reply = await self._one(box, config.CREATE_TIMEOUT_S, create_sandbox=compute_pb2.CreateSandboxRequest(
            compute_id=box.compute_id, workspace_id=box.workspace_id, requirements=requirements))
        return reply.sandbox.workspace_id

    async def run(self, box: SandboxRecord, runtime: str, code: str, stdin: str, env: dict[str, str],
                  timeout: float, whole: bool = False) -> AsyncIterator[RunEvent]:
        """The run's events as they happen; whole: all of it in one reply at
        its end (for a caller that waits for the end anyway: one message on
        the wire instead of one per piece of output)."""
        request = compute_pb2.RunSandboxRequest(sandbox_id=box.sandbox_id, code=code, runtime=runtime,
                                                timeout=timeout, stdin=stdin, env=env)
        yield RunEvent(type="started")
        if whole:
            run = (await self._one(box, timeout + config.RUN_GRACE_S, run_sandbox=request)).run
            for kind in ("stdout", "stderr"):
                if getattr(run, kind):
                    yield RunEvent(type=kind, data=getattr(run, kind))
            yield RunEvent(type="exit", exit_code=run.exit_code, timed_out=run.timed_out, truncated=run.truncated,
                           duration_ms=run.duration_ms, reason=run.reason)
            return
        async for reply in self._call(box, timeout + config.RUN_GRACE_S, run_sandbox_stream=request):
            yield run_event(reply.output)

    async def install(self, box: SandboxRecord, manager: str, packages: list[str]) -> AsyncIterator[RunEvent]:
        request = compute_pb2.InstallPackageRequest(sandbox_id=box.sandbox_id, manager=manager, packages=packages)
        async for reply in self._call(box, config.INSTALL_TIMEOUT_S + config.RUN_GRACE_S, install_package=request):
            yield run_event(reply.output)

    async def run_cell(self, box: SandboxRecord, code: str, timeout: float) -> compute_pb2.CellResult:
        reply = await self._one(box, timeout + config.CELL_GRACE_S, run_cell=compute_pb2.RunCellRequest(
            sandbox_id=box.sandbox_id, code=code, timeout=timeout))
        return reply.cell

    async def restart_context(self, box: SandboxRecord) -> None:
        await self._one(box, config.CELL_GRACE_S, restart_context=compute_pb2.RestartContextRequest(
            sandbox_id=box.sandbox_id))

    async def write_file(self, box: SandboxRecord, path: str, data: bytes, offset: int = 0) -> int:
        reply = await self._one(box, write_file=compute_pb2.WriteFileRequest(
            sandbox_id=box.sandbox_id, path=path, content=base64.b64encode(data).decode(), encoding="base64",
            offset=offset))
        return reply.file_info.size

    async def read_file(self, box: SandboxRecord, path: str, offset: int = 0, length: int = 0) -> bytes:
        reply = await self._one(box, read_file=compute_pb2.ReadFileRequest(
            sandbox_id=box.sandbox_id, path=path, encoding="base64", offset=offset, length=length))
        return base64.b64decode(reply.file_content.content)

    async def move_file(self, box: SandboxRecord, path: str, to: str) -> int:
        reply = await self._one(box, move_file=compute_pb2.MoveFileRequest(
            sandbox_id=box.sandbox_id, from_path=path, to_path=to))
        return reply.file_info.size

    async def list_files(self, box: SandboxRecord, path: str) -> compute_pb2.ListFilesResponse:
        return (await self._one(box, list_files=compute_pb2.ListFilesRequest(sandbox_id=box.sandbox_id,
                                                                               path=path))).listing

    async def file_exists(self, box: SandboxRecord, path: str) -> compute_pb2.FileExistsResponse:
        return (await self._one(box, file_exists=compute_pb2.FileExistsRequest(sandbox_id=box.sandbox_id,
                                                                                 path=path))).exists

    async def delete_file(self, box: SandboxRecord, path: str) -> None:
        await self._one(box, delete_file=compute_pb2.DeleteFileRequest(sandbox_id=box.sandbox_id, path=path))

    async def delete(self, box: SandboxRecord, keep_workspace: bool) -> None:
        await self._one(box, delete_sandbox=compute_pb2.DeleteSandboxRequest(
            sandbox_id=box.sandbox_id, keep_workspace=keep_workspace))

    async def close(self) -> None:
        pass


class Directory(Protocol):
    """Where the node of a compute is reached."""

    async def node_address(self, compute_id: str) -> str: ...

    def forget_address(self, compute_id: str) -> None: ...


class AskCompute:
    """The data path's Directory: asks the compute service (the registry),
    keeps the answer, and asks again once an address stops answering."""

    def __init__(self):
        self._nodes: dict[str, compute_pb2.NodeAddress] = {}

    async def _node(self, compute_id: str, fresh: bool = False) -> compute_pb2.NodeAddress:
        node = None if fresh else self._nodes.get(compute_id)
        if node is None:
            try:
                node = await peers.stub("compute", compute_pb2_grpc.ComputeServiceStub).ResolveNode(
                    compute_pb2.ResolveNodeRequest(compute_id=compute_id), metadata=auth.service_metadata(""),
                    timeout=config.CALL_TIMEOUT_S)
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.NOT_FOUND:
                    raise SandboxRefused(errors.describe(err), not_found=True) from None
                # Compute restarting says nothing of the node: not a lost sandbox.
                raise DirectoryUnavailable(errors.describe(err)) from None
            self._nodes[compute_id] = node
        return node

    async def node_address(self, compute_id: str) -> str:
        return (await self._node(compute_id)).address

    async def preview_address(self, compute_id: str) -> str:
        """Where the node's preview listener is reached now ("": it has none).
        Asked afresh: a preview connection has no call to retry on a miss."""
        return (await self._node(compute_id, fresh=True)).preview_address

    def forget_address(self, compute_id: str) -> None:
        self._nodes.pop(compute_id, None)


def _node(address: str) -> node_pb2_grpc.NodeServiceStub:
    return peers.stub_at(address, node_pb2_grpc.NodeServiceStub)


class NodeClient(CallAdapter):
    provider = "local"

    def __init__(self, directory: Directory):
        self.directory = directory

    async def _send(self, request, metadata, timeout):
        address = await self.directory.node_address(request.compute_id)
        async for reply in _node(address).Call(request, metadata=metadata, timeout=timeout):
            yield reply

    def _missed(self, box: SandboxRecord) -> None:
        self.directory.forget_address(box.compute_id)

    @staticmethod
    async def describe(address: str, wait_s: float) -> node_pb2.NodeInfo:
        """What the node at address is and holds; waits up to wait_s for it
        to come up."""
        return await _node(address).Describe(node_pb2.DescribeNodeRequest(), metadata=auth.service_metadata(""),
                                             timeout=wait_s, wait_for_ready=True)


class RelayClient(CallAdapter):
    provider = "relay"

    def _send(self, request, metadata, timeout):
        return peers.stub("relay", relay_pb2_grpc.RelayServiceStub).Forward(request, metadata=metadata,
                                                                             timeout=timeout)


def clients(directory: Directory) -> dict[str, CallAdapter]:
    """A client per provider whose sandboxes live on a node runtime."""
    return {client.provider: client for client in (NodeClient(directory), RelayClient())}
