"""What a node does with a sandbox call: create, run, files, delete on the
machine's LocalProvider. The same for every transport: gRPC
(services/node/handlers.py) and the relay socket (cli/relay.py)."""
import base64
import dataclasses
import hashlib
import os
import platform
import shutil
import socket
from collections.abc import AsyncIterator

from cerver.v2 import compute_pb2, relay_pb2
from servicekit import config
from servicekit import limits as sandbox_limits
from servicekit.errors import ServiceError
from services.compute.adapters.base import SandboxRefused
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
            "isolated": isolated, "network": True}


@dataclasses.dataclass
class Box:
    """A sandbox as this node knows it (the adapters' SandboxRecord)."""
    sandbox_id: str
    compute_id: str = ""
    workspace_id: str = ""
    network: bool = False


class NodeRuntime:
    def __init__(self, provider: LocalProvider):
        self.provider = provider
        self.boxes: dict[str, Box] = {}
        # This machine and data folder (as the local compute was always named).
        self.node_id = hashlib.sha256(f"{socket.gethostname()}:{config.data_dir()}".encode()).hexdigest()[:16]

    def sandbox_ids(self) -> list[str]:
        return list(self.boxes)

    async def handle(self, call: relay_pb2.RelayCall) -> AsyncIterator[tuple[relay_pb2.RelayReply, bool]]:
        """The call's replies, each with whether it is the last. Raises
        SandboxRefused or SandboxGone when the call cannot be served."""
        kind = call.WhichOneof("call")
        box = self.boxes.get(call.sandbox_id) or Box(call.sandbox_id, call.compute_id)
        if kind == "create_sandbox":
            req = call.create_sandbox
            box.workspace_id = req.workspace_id
            box.network = req.requirements.package_install or req.requirements.public_preview \
                or req.requirements.browser
            try:
                limits = sandbox_limits.choose(req.requirements, self.provider.limits, self.provider.maxima)
            except ServiceError as exc:  # asks for more than this machine allows
                raise SandboxRefused(exc.message) from None
            box.workspace_id = await self.provider.create(box, limits)
            self.boxes[box.sandbox_id] = box
            yield relay_pb2.RelayReply(sandbox=compute_pb2.Sandbox(
                sandbox_id=box.sandbox_id, compute_id=box.compute_id, workspace_id=box.workspace_id,
                network=box.network, status="running")), True
        elif kind in ("run_sandbox", "run_sandbox_stream"):
            req = getattr(call, kind)
            timeout = req.timeout if req.HasField("timeout") else config.RUN_TIMEOUT_S
            async for event in self.provider.run(box, req.runtime or "shell", req.code, req.stdin, dict(req.env),
                                                 timeout):
                if event.type != "started":
                    yield relay_pb2.RelayReply(output=compute_pb2.SandboxOutput(
                        type=event.type, data=event.data, exit_code=event.exit_code, timed_out=event.timed_out,
                        truncated=event.truncated, duration_ms=event.duration_ms,
                        reason=event.reason)), event.type == "exit"
        elif kind == "write_file":
            req = call.write_file
            size = await self.provider.write_file(box, req.path, base64.b64decode(req.content))
            yield relay_pb2.RelayReply(file_info=compute_pb2.FileInfo(path=req.path, size=size)), True
        elif kind == "read_file":
            data = await self.provider.read_file(box, call.read_file.path)
            yield relay_pb2.RelayReply(file_content=compute_pb2.FileContent(
                path=call.read_file.path, content=base64.b64encode(data).decode(), encoding="base64",
                size=len(data))), True
        elif kind == "delete_sandbox":
            await self.provider.delete(box, call.delete_sandbox.keep_workspace)
            self.boxes.pop(box.sandbox_id, None)
            yield relay_pb2.RelayReply(deleted=compute_pb2.DeleteSandboxResponse(
                sandbox_id=box.sandbox_id, deleted=True)), True
        else:
            raise SandboxRefused(f"{kind} is served by the compute service, not by a node")
