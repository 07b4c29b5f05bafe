"""What a node does with a sandbox call: create, run, files, delete on the
machine's LocalProvider. The same for every transport: gRPC
(services/node/handlers.py) and the relay socket (cli/relay.py)."""
import base64
import dataclasses
import hashlib
import os
import platform
import secrets
import shutil
import socket
from collections.abc import AsyncIterator

from opentelemetry.metrics import Observation

from cerver.v2 import common_pb2, compute_pb2, relay_pb2
from servicekit import config
from servicekit import limits as sandbox_limits
from servicekit.errors import ServiceError
from services.compute.adapters.base import Cell, RunEvent, SandboxGone, SandboxRefused
from services.compute.adapters.local import LocalProvider


def host_capabilities(isolated: bool) -> dict:
    """What this machine offers sandboxes, as a compute's capabilities."""
    runtimes = ["shell"] + [r for r, exe in (("python", "/usr/bin/python3"), ("node", "node"))
                            if shutil.which(exe)]
    memory_mb = 0
    try:
        with open("/proc/meminfo") as f:
            memory_mb = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return {"runtimes": runtimes, "cores": os.cpu_count() or 1, "memory_mb": memory_mb,
            "os": f"{platform.system()} {platform.release()}", "arch": platform.machine(),
            "isolated": isolated, "network": True, "max_sandboxes": config.settings().max_sandboxes}


def _output(event: RunEvent) -> relay_pb2.RelayReply:
    return relay_pb2.RelayReply(output=compute_pb2.SandboxOutput(
        type=event.type, data=event.data, exit_code=event.exit_code, timed_out=event.timed_out,
        truncated=event.truncated, duration_ms=event.duration_ms, reason=event.reason))


def _run_timeout(req: compute_pb2.RunSandboxRequest) -> float:
    return req.timeout if req.HasField("timeout") else config.RUN_TIMEOUT_S


def cell_result(sandbox_id: str, cell: Cell, timeout: float) -> relay_pb2.RelayReply:
    """A cell as the contract (and the published SDK) reads it: `error` holds
    stderr, then the traceback, and says "timed out" when the cell did."""
    error = "".join(cell.stderr)
    if cell.traceback:
        error += ("\n" if error and not error.endswith("\n") else "") + "\n".join(cell.traceback)
    if cell.timed_out:
        error += ("\n" if error else "") + f"Execution timed out after {timeout:g} s (the cell was interrupted)"
    main = next((data for data, is_main in cell.results if is_main), {})
    return relay_pb2.RelayReply(cell=compute_pb2.CellResult(
        sandbox_id=sandbox_id, output="".join(cell.stdout), error=error,
        exit_code=1 if cell.error_name or cell.timed_out else 0, duration=round(cell.duration_ms),
        timed_out=cell.timed_out, text=main.get("text/plain", ""),
        results=[common_pb2.DisplayData(data=data, is_main_result=is_main) for data, is_main in cell.results],
        error_name=cell.error_name, error_value=cell.error_value, traceback=cell.traceback,
        truncated=cell.truncated, context_restarted=cell.context_restarted))


@dataclasses.dataclass
class Box:
    """A sandbox as this node knows it (the adapters' SandboxRecord)."""
    sandbox_id: str
    compute_id: str = ""
    workspace_id: str = ""
    network: bool = False
    preview: bool = False
    runtime: str = ""


class NodeRuntime:
    def __init__(self, provider: LocalProvider):
        self.provider = provider
        self.boxes: dict[str, Box] = {}
        # This machine and data folder (CERVER_NODE_NAME names the machine
        # where the hostname is a pod's, which a restart changes).
        machine = config.settings().node_name or socket.gethostname()
        self.node_id = hashlib.sha256(f"{machine}:{config.data_dir()}".encode()).hexdigest()[:16]
        self.boot_id = secrets.token_hex(8)
        self.capabilities = host_capabilities(provider.isolated)  # as settings were at start
        self.preview_port = 0  # the node's preview listener, once it listens

    def observe(self, options=None) -> list[Observation]:
        """The node's sandboxes now, for the cerver.sandboxes gauge."""
        return [Observation(len(self.boxes), {"state": "running"}),
                Observation(self.provider.warm_count, {"state": "warm"})]

    def sandbox_ids(self) -> list[str]:
        return list(self.boxes)

    async def connect_preview(self, sandbox_id: str, port: int) -> socket.socket:
        """A connection to port inside a sandbox made for a public preview."""
        box = self.boxes.get(sandbox_id)
        if box is None or not box.preview:
            raise SandboxRefused(f"no sandbox {sandbox_id} with a public preview on this node", not_found=True)
        if not 1 <= port <= 65535:
            raise SandboxRefused(f"no port {port}")
        return await self.provider.connect_inside(box, port)

    async def handle(self, call: relay_pb2.RelayCall) -> AsyncIterator[tuple[relay_pb2.RelayReply, bool]]:
        """The call's replies, each with whether it is the last. Raises
        SandboxRefused or SandboxGone when the call cannot be served."""
        kind = call.WhichOneof("call")
        box = self.boxes.get(call.sandbox_id) or Box(call.sandbox_id, call.compute_id)
        if kind == "create_sandbox":
            req = call.create_sandbox
            box.workspace_id, box.runtime = req.workspace_id, req.requirements.runtime
            box.network = sandbox_limits.needs_network(req.requirements)
            box.preview = req.requirements.public_preview
            try:
                limits = sandbox_limits.choose(req.requirements, self.provider.limits, self.provider.maxima)
            except ServiceError as exc:  # asks for more than this machine allows
                raise SandboxRefused(exc.message) from None
            box.workspace_id = await self.provider.create(box, limits)
            self.boxes[box.sandbox_id] = box
            yield relay_pb2.RelayReply(sandbox=compute_pb2.Sandbox(
                sandbox_id=box.sandbox_id, compute_id=box.compute_id, workspace_id=box.workspace_id,
                network=box.network, status="running")), True
        elif kind == "run_sandbox_stream":
            req = call.run_sandbox_stream
            async for event in self.provider.run(box, req.runtime, req.code, req.stdin, dict(req.env),
                                                 _run_timeout(req)):
                yield _output(event), event.type == "exit"
        elif kind == "run_sandbox":
            # One reply with the whole run, for a caller that waits for its end.
            req, out, final = call.run_sandbox, {"stdout": [], "stderr": []}, None
            async for event in self.provider.run(box, req.runtime, req.code, req.stdin, dict(req.env),
                                                 _run_timeout(req)):
                if event.type in out:
                    out[event.type].append(event.data)
                elif event.type == "exit":
                    final = event
            if final is None:
                raise SandboxGone("the run ended without an exit")
            yield relay_pb2.RelayReply(run=compute_pb2.RunSandboxResponse(
                sandbox_id=box.sandbox_id, stdout="".join(out["stdout"]), stderr="".join(out["stderr"]),
                exit_code=final.exit_code, timed_out=final.timed_out, truncated=final.truncated,
                duration_ms=final.duration_ms, reason=final.reason)), True
        elif kind == "install_package":
            req = call.install_package
            async for event in self.provider.install(box, req.manager or "pip", list(req.packages),
                                                     config.package_index_env(), config.INSTALL_TIMEOUT_S):
                if event.type != "started":
                    yield _output(event), event.type == "exit"
        elif kind == "run_cell":
            req = call.run_cell
            timeout = req.timeout if req.HasField("timeout") else config.RUN_TIMEOUT_S
            yield cell_result(box.sandbox_id, await self.provider.run_cell(box, req.code, timeout), timeout), True
        elif kind == "restart_context":
            await self.provider.restart_context(box)
            yield relay_pb2.RelayReply(restarted=compute_pb2.RestartContextResponse(
                sandbox_id=box.sandbox_id, restarted=True)), True
        elif kind == "write_file":
            req = call.write_file
            size = await self.provider.write_file(box, req.path, base64.b64decode(req.content), req.offset)
            yield relay_pb2.RelayReply(file_info=compute_pb2.FileInfo(path=req.path, size=size)), True
        elif kind == "read_file":
            req = call.read_file
            data = await self.provider.read_file(box, req.path, req.offset, req.length)
            yield relay_pb2.RelayReply(file_content=compute_pb2.FileContent(
                path=req.path, content=base64.b64encode(data).decode(), encoding="base64", size=len(data))), True
        elif kind == "move_file":
            req = call.move_file
            size = await self.provider.move_file(box, req.from_path, req.to_path)
            yield relay_pb2.RelayReply(file_info=compute_pb2.FileInfo(path=req.to_path, size=size)), True
        elif kind == "list_files":
            msg = await self.provider.file_call(box, "list_files", call.list_files.path)
            entries = []
            for e in list(msg.get("entries") or [])[:10_000]:  # what the sandbox says, held to its shape
                entry = compute_pb2.FileEntry(name=str(e.get("name", ""))[:4096], path=str(e.get("path", ""))[:4096],
                                              type=str(e.get("type", ""))[:10], size=int(e.get("size") or 0))
                entry.modified_at.FromNanoseconds(int(float(e.get("mtime") or 0) * 1e9))
                entries.append(entry)
            yield relay_pb2.RelayReply(listing=compute_pb2.ListFilesResponse(
                path=call.list_files.path, entries=entries, truncated=bool(msg.get("truncated")))), True
        elif kind == "file_exists":
            msg = await self.provider.file_call(box, "file_exists", call.file_exists.path)
            yield relay_pb2.RelayReply(exists=compute_pb2.FileExistsResponse(
                path=call.file_exists.path, exists=bool(msg.get("exists")), type=str(msg.get("kind", ""))[:10])), True
        elif kind == "delete_file":
            await self.provider.file_call(box, "delete_file", call.delete_file.path)
            yield relay_pb2.RelayReply(file_deleted=compute_pb2.DeleteFileResponse(
                path=call.delete_file.path, deleted=True)), True
        elif kind == "delete_sandbox":
            await self.provider.delete(box, call.delete_sandbox.keep_workspace)
            self.boxes.pop(box.sandbox_id, None)
            yield relay_pb2.RelayReply(deleted=compute_pb2.DeleteSandboxResponse(
                sandbox_id=box.sandbox_id, deleted=True)), True
        else:
            raise SandboxRefused(f"{kind} is served by the compute service, not by a node")
