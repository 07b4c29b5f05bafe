"""The `kubernetes` provider: each sandbox is a pod of a Kubernetes cluster
running kubernetes-sigs/agent-sandbox (v1beta1), through its official Python
client (k8s-agent-sandbox, on kubernetes_asyncio).

- create: a SandboxClaim against the deployment's SandboxWarmPool (a warm pod
  is adopted), ready when the claim's Ready condition says so (by watch);
- run, files: the in-pod runtime's HTTP API, through the cluster's
  sandbox-router (X-Sandbox-* headers); a run is `timeout -s KILL` around
  the runtime's argv, so it ends at its own timeout inside the pod;
- pause (delete keeping the workspace): the Sandbox's `spec.operatingMode`
  becomes Suspended (the pod ends, its volumes stay); resume sets Running;
- delete: the claim (its sandbox and pod follow).
The claim is named after the workspace, so any replica of the compute
service finds it again: this adapter keeps nothing that a restart loses.
Isolation is the cluster's (a gVisor or Kata runtime class in the warm
pool's template), and so are resources: the template sets them."""
import posixpath
import secrets
import time
from collections.abc import AsyncIterator

import aiohttp
from k8s_agent_sandbox import exceptions as sandbox_errors
from k8s_agent_sandbox.async_k8s_helper import AsyncK8sHelper
from k8s_agent_sandbox.async_sandbox import AsyncSandbox
from k8s_agent_sandbox.constants import (CLAIM_API_GROUP, CLAIM_API_VERSION, SANDBOX_API_GROUP, SANDBOX_API_VERSION,
                                         SANDBOX_PLURAL_NAME)
from k8s_agent_sandbox.models import SandboxDirectConnectionConfig
from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from cerver.v2 import compute_pb2
from servicekit import config
from servicekit.config import KubernetesSettings
from servicekit.limits import Limits
from services.compute.adapters.base import ComputeUnreachable, RunEvent, SandboxGone, SandboxRecord, SandboxRefused
from services.compute.adapters.remote import ShellFiles, command, exit_event

MANAGED_BY = {"app.kubernetes.io/managed-by": "cerver"}


def claim_name(workspace_id: str) -> str:
    """A DNS-1123 name: ws_<16 hex> -> cerver-ws-<16 hex>."""
    return "cerver-" + workspace_id.replace("_", "-")


class KubernetesProvider(ShellFiles):
    provider = "kubernetes"

    def __init__(self, settings: KubernetesSettings, api_client: k8s.ApiClient):
        self.settings = settings
        self.api_client = api_client
        self.helper = AsyncK8sHelper(api_client=api_client)
        self.objects = k8s.CustomObjectsApi(api_client)
        self.connection = SandboxDirectConnectionConfig(api_url=settings.router_url,
                                                        server_port=settings.server_port)
        self._handles: dict[str, AsyncSandbox] = {}  # workspace id -> its sandbox, as last resolved

    @classmethod
    async def connect(cls, settings: KubernetesSettings) -> "KubernetesProvider":
        """Credentials as every Kubernetes client finds them: the pod's
        service account in a cluster, else the kubeconfig (KUBECONFIG)."""
        configuration = k8s.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except k8s_config.ConfigException:
            # KUBECONFIG as it is now (the library reads it once, at import).
            await k8s_config.load_kube_config(config_file=config.settings().kubeconfig or None,
                                              client_configuration=configuration, persist_config=False)
        return cls(settings, k8s.ApiClient(configuration))

    # -- the compute -------------------------------------------------------------
    def name(self) -> str:
        return f"kubernetes ({self.settings.namespace}/{self.settings.warmpool})"

    async def describe(self) -> dict | None:
        """The compute's capabilities while the cluster answers and the warm
        pool exists; None otherwise (offline)."""
        try:
            await self.objects.get_namespaced_custom_object(
                CLAIM_API_GROUP, CLAIM_API_VERSION, self.settings.namespace, "sandboxwarmpools",
                self.settings.warmpool, _request_timeout=config.settings().node_poll_s)
        except (k8s.ApiException, aiohttp.ClientError, TimeoutError):
            return None
        return {"runtimes": list(self.settings.runtimes), "isolated": True, "network": True,
                "max_sandboxes": self.settings.max_sandboxes, "os": "Linux"}

    # -- the sandbox contract ----------------------------------------------------
    async def create(self, box: SandboxRecord, limits: Limits) -> str:
        workspace = box.workspace_id or "ws_" + secrets.token_hex(8)
        claim = claim_name(workspace)
        timeout = round(self.settings.ready_timeout_s)
        with _translated():
            if box.workspace_id:  # resume: the claim is there, its sandbox suspended
                name = await self.helper.resolve_sandbox_name(claim, self.settings.namespace, timeout=10)
                await self._set_mode(name, "Running")
                await self.helper.wait_for_sandbox_ready(name, self.settings.namespace, timeout)
            else:
                created = await self.helper.create_sandbox_claim(
                    claim, self.settings.warmpool, self.settings.namespace,
                    labels={**MANAGED_BY, "cerver.dev/sandbox-id": box.sandbox_id})
                try:
                    name = await self.helper.wait_for_claim_ready(
                        claim, self.settings.namespace, timeout,
                        resource_version=created.get("metadata", {}).get("resourceVersion"))
                except BaseException:
                    await self.helper.delete_sandbox_claim(claim, self.settings.namespace)
                    raise
        self._handles[workspace] = self._handle(claim, name)
        return workspace

    async def run(self, box: SandboxRecord, runtime: str, code: str, stdin: str, env: dict[str, str],
                  timeout: float) -> AsyncIterator[RunEvent]:
        # The cluster's runtime has no way to tell a command line from source:
        # a run that names no runtime is read in the sandbox's, else as shell.
        runtime = runtime or box.runtime or "shell"
        if runtime not in self.settings.runtimes:
            raise SandboxRefused(f"runtime {runtime} is not in this cluster's sandbox image "
                                 f"({', '.join(self.settings.runtimes)})")
        sandbox = await self._sandbox(box)
        yield RunEvent(type="started")
        started = time.perf_counter()
        with _translated():
            result = await sandbox.commands.run(command(runtime, code, stdin, env, timeout),
                                                timeout=round(timeout + config.RUN_GRACE_S))
        for kind, data in (("stdout", result.stdout), ("stderr", result.stderr)):
            if data:
                yield RunEvent(type=kind, data=data)
        yield exit_event(result.exit_code, started, timeout)

    async def write_file(self, box: SandboxRecord, path: str, data: bytes, offset: int = 0) -> int:
        if offset:
            # The runtime writes whole files only (and so uploads of one piece).
            raise SandboxRefused("kubernetes sandboxes take a file whole: writes at an offset are not offered")
        sandbox = await self._sandbox(box)
        with _translated(path):
            await sandbox.files.write(path, data)
        return len(data)

    async def read_file(self, box: SandboxRecord, path: str, offset: int = 0, length: int = 0) -> bytes:
        sandbox = await self._sandbox(box)
        with _translated(path):
            data = await sandbox.files.read(path)  # the runtime serves whole files only
        return data[offset:offset + length] if length else data[offset:]

    async def list_files(self, box: SandboxRecord, path: str) -> compute_pb2.ListFilesResponse:
        sandbox = await self._sandbox(box)
        with _translated(path or "."):
            entries = await sandbox.files.list(path or ".")
        out = compute_pb2.ListFilesResponse(path=path)
        for e in sorted(entries, key=lambda e: e.name)[:10_000]:
            entry = out.entries.add(name=e.name, path=posixpath.join(path, e.name) if path else e.name,
                                    type="dir" if e.type == "directory" else e.type, size=e.size)
            entry.modified_at.FromDatetime(e.modified)
        return out

    async def file_exists(self, box: SandboxRecord, path: str) -> compute_pb2.FileExistsResponse:
        sandbox = await self._sandbox(box)
        with _translated(path):
            return compute_pb2.FileExistsResponse(path=path, exists=await sandbox.files.exists(path))

    async def delete(self, box: SandboxRecord, keep_workspace: bool) -> None:
        if not box.workspace_id:
            return
        claim = claim_name(box.workspace_id)
        handle = self._handles.pop(box.workspace_id, None)
        if handle is not None:
            await handle.close_connection()
        with _translated():
            if keep_workspace:
                name = await self.helper.resolve_sandbox_name(claim, self.settings.namespace, timeout=10)
                await self._set_mode(name, "Suspended")
            else:
                await self.helper.delete_sandbox_claim(claim, self.settings.namespace)

    async def close(self) -> None:
        for handle in self._handles.values():
            await handle.close_connection()
        self._handles.clear()
        await self.api_client.close()

    # -- helpers -------------------------------------------------------------------
    def _handle(self, claim: str, name: str) -> AsyncSandbox:
        return AsyncSandbox(claim_name=claim, sandbox_id=name, namespace=self.settings.namespace,
                            connection_config=self.connection, k8s_helper=self.helper)

    async def _sandbox(self, box: SandboxRecord) -> AsyncSandbox:
        """The sandbox of box's claim (resolved once per process)."""
        handle = self._handles.get(box.workspace_id)
        if handle is None:
            claim = claim_name(box.workspace_id)
            with _translated():
                name = await self.helper.resolve_sandbox_name(claim, self.settings.namespace, timeout=10)
            handle = self._handles[box.workspace_id] = self._handle(claim, name)
        return handle

    async def _set_mode(self, name: str, mode: str) -> None:
        await self.objects.patch_namespaced_custom_object(
            SANDBOX_API_GROUP, SANDBOX_API_VERSION, self.settings.namespace, SANDBOX_PLURAL_NAME, name,
            {"spec": {"operatingMode": mode}}, _content_type="application/merge-patch+json")


class _translated:
    """The client's and the API server's failures as the sandbox contract's:
    gone (404), refused (a path the runtime denies), unreachable (no answer)."""

    def __init__(self, path: str = ""):
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None:
            return False
        if isinstance(exc, k8s.ApiException):
            if exc.status == 404:
                raise SandboxRefused("the sandbox's claim is gone from the cluster", not_found=True) from None
            raise SandboxGone(f"the Kubernetes API answered {exc.status} {exc.reason}") from None
        if isinstance(exc, sandbox_errors.SandboxRequestError):
            status = getattr(exc, "status_code", None)
            if status == 404 and self.path:
                raise SandboxRefused(f"no file {self.path}", not_found=True) from None
            if status == 403 and self.path:
                raise SandboxRefused(f"path {self.path} is outside the workspace") from None
            raise SandboxGone(f"the sandbox's pod did not answer through the router ({status or 'no answer'})") \
                from None
        if isinstance(exc, (sandbox_errors.SandboxNotFoundError, sandbox_errors.SandboxMetadataError)):
            raise SandboxRefused("the sandbox is gone from the cluster", not_found=True) from None
        if isinstance(exc, sandbox_errors.SandboxError):
            raise SandboxGone(str(exc)) from None
        if isinstance(exc, TimeoutError):
            raise SandboxGone("the cluster did not make the sandbox ready in time") from None
        if isinstance(exc, aiohttp.ClientError):
            raise ComputeUnreachable(f"the Kubernetes API does not answer ({type(exc).__name__})") from None
        if isinstance(exc, ValueError):  # the client's own path checks
            raise SandboxRefused(str(exc)) from None
        return False

