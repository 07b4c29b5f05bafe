"""A stand-in for a Kubernetes cluster running kubernetes-sigs/agent-sandbox
(v1beta1), for tests: no cluster exists on these machines.

It follows what agent-sandbox documents and its clients rely on:
- the API server's REST conventions for its custom resources (create, get,
  list, watch as newline-delimited events from a resourceVersion, merge
  patch, delete; `Status` objects with reason and code on errors; bearer
  tokens), for `SandboxWarmPool` and `SandboxClaim`
  (extensions.agents.x-k8s.io/v1beta1) and `Sandbox` (agents.x-k8s.io/v1beta1);
- the controllers: a claim adopts a sandbox of its warm pool and forwards
  its Ready condition and name in `status`; a claim naming a pool that does
  not exist gets Ready=False, reason WarmPoolNotFound; `spec.operatingMode:
  Suspended` terminates the pod (Ready=False SandboxSuspended, Suspended=True)
  and keeps its volume, `Running` brings it back; deleting a claim deletes its
  sandbox;
- the sandbox-router (routes by X-Sandbox-ID / X-Sandbox-Namespace /
  X-Sandbox-Port; 502 when the pod does not answer) in front of the example
  python-runtime-sandbox (`POST /execute {command}` split with shlex, run from
  the base directory, `POST /upload` multipart, `GET /download/{path}`,
  `/list/{path}`, `/exists/{path}`, paths kept inside the base directory).
Each "pod" is a directory on this machine and its commands run as plain
processes: isolation is the runtime class's job (gVisor, Kata) on a cluster.
"""
import asyncio
import dataclasses
import itertools
import json
import os
import pathlib
import secrets
import shlex
import shutil
import signal
import uuid
from datetime import UTC, datetime

from aiohttp import web

CLAIMS = ("extensions.agents.x-k8s.io", "v1beta1", "sandboxclaims", "SandboxClaim")
POOLS = ("extensions.agents.x-k8s.io", "v1beta1", "sandboxwarmpools", "SandboxWarmPool")
SANDBOXES = ("agents.x-k8s.io", "v1beta1", "sandboxes", "Sandbox")
KINDS = {plural: (group, version, kind) for group, version, plural, kind in (CLAIMS, POOLS, SANDBOXES)}


def _status(code: int, reason: str, message: str) -> web.Response:
    return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                              "message": message, "reason": reason, "code": code}, status=code)


def _condition(kind: str, status: bool, reason: str, message: str = "") -> dict:
    return {"type": kind, "status": "True" if status else "False", "reason": reason, "message": message,
            "lastTransitionTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}


@dataclasses.dataclass
class Event:
    version: int
    plural: str
    namespace: str
    type: str
    object: dict


class Cluster:
    """The API server's objects, its event history and the controllers."""

    def __init__(self, root: pathlib.Path, token: str):
        self.root = root
        self.token = token
        self.objects: dict[tuple[str, str, str], dict] = {}  # (plural, namespace, name) -> object
        self.events: list[Event] = []
        self.changed = asyncio.Condition()
        self.versions = itertools.count(1)
        self.requests: list[tuple[str, str]] = []  # (method, path) as the API server saw them
        self.processes: dict[str, set[asyncio.subprocess.Process]] = {}

    # -- storage ---------------------------------------------------------------
    async def put(self, plural: str, namespace: str, obj: dict, kind: str = "MODIFIED") -> dict:
        version = next(self.versions)
        obj["metadata"]["resourceVersion"] = str(version)
        self.objects[(plural, namespace, obj["metadata"]["name"])] = obj
        self.events.append(Event(version, plural, namespace, kind, json.loads(json.dumps(obj))))
        async with self.changed:
            self.changed.notify_all()
        return obj

    async def remove(self, plural: str, namespace: str, name: str) -> dict | None:
        obj = self.objects.pop((plural, namespace, name), None)
        if obj is None:
            return None
        obj["metadata"]["resourceVersion"] = str(next(self.versions))
        self.events.append(Event(int(obj["metadata"]["resourceVersion"]), plural, namespace, "DELETED", obj))
        async with self.changed:
            self.changed.notify_all()
        sandbox = obj.get("status", {}).get("sandbox", {}).get("name")
        if plural == "sandboxclaims" and sandbox:  # owner references: its sandbox and pod go too
            await self.kill(sandbox)
            await self.remove("sandboxes", namespace, sandbox)
            shutil.rmtree(self.pod_dir(namespace, sandbox), ignore_errors=True)
        return obj

    def new(self, plural: str, namespace: str, name: str, spec: dict, labels: dict | None = None) -> dict:
        group, version, kind = KINDS[plural]
        return {"apiVersion": f"{group}/{version}", "kind": kind,
                "metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()), "labels": labels or {},
                             "creationTimestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
                "spec": spec, "status": {}}

    async def add_pool(self, namespace: str, name: str, replicas: int = 2) -> None:
        await self.put("sandboxwarmpools", namespace, self.new("sandboxwarmpools", namespace, name, {
            "replicas": replicas, "sandboxTemplateRef": {"name": "python-runtime-template"}}), "ADDED")

    # -- controllers -------------------------------------------------------------
    def pod_dir(self, namespace: str, sandbox: str) -> pathlib.Path:
        return self.root / namespace / sandbox

    async def reconcile_claim(self, namespace: str, name: str) -> None:
        """The claim controller: adopt a warm sandbox (made ready here) and
        forward its name and Ready condition to the claim's status."""
        await asyncio.sleep(0.02)  # controllers act after the create returns
        claim = self.objects.get(("sandboxclaims", namespace, name))
        if claim is None:
            return
        pool = claim["spec"].get("warmPoolRef", {}).get("name", "")
        if ("sandboxwarmpools", namespace, pool) not in self.objects:
            claim["status"] = {"conditions": [_condition("Ready", False, "WarmPoolNotFound",
                                                         f'SandboxWarmPool "{pool}" not found')]}
            await self.put("sandboxclaims", namespace, claim)
            return
        sandbox_name = f"{pool}-{secrets.token_hex(3)}"
        sandbox = self.new("sandboxes", namespace, sandbox_name, {"operatingMode": "Running"},
                           {"agents.x-k8s.io/claim": name})
        self.pod_dir(namespace, sandbox_name).mkdir(parents=True)
        sandbox["status"] = {"conditions": [_condition("Ready", True, "DependenciesReady")],
                             "podIPs": ["10.244.0.%d" % (len(self.objects) % 250 + 2)]}
        await self.put("sandboxes", namespace, sandbox, "ADDED")
        claim["status"] = {"sandbox": {"name": sandbox_name, "podIPs": sandbox["status"]["podIPs"]},
                           "conditions": [_condition("Ready", True, "SandboxReady")]}
        await self.put("sandboxclaims", namespace, claim)

    async def reconcile_sandbox(self, namespace: str, name: str) -> None:
        """The sandbox controller: Suspended ends the pod and keeps its volume."""
        sandbox = self.objects.get(("sandboxes", namespace, name))
        if sandbox is None:
            return
        if sandbox["spec"].get("operatingMode") == "Suspended":
            await self.kill(name)
            sandbox["status"] = {"conditions": [_condition("Ready", False, "SandboxSuspended"),
                                                _condition("Suspended", True, "PodTerminated")]}
        else:
            sandbox["status"] = {"conditions": [_condition("Ready", True, "DependenciesReady")],
                                 "podIPs": ["10.244.1.%d" % (len(self.objects) % 250 + 2)]}
        await self.put("sandboxes", namespace, sandbox)

    async def kill(self, sandbox: str) -> None:
        for process in self.processes.pop(sandbox, set()):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def ready(self, namespace: str, sandbox: str) -> bool:
        obj = self.objects.get(("sandboxes", namespace, sandbox))
        return obj is not None and any(c["type"] == "Ready" and c["status"] == "True"
                                       for c in obj["status"].get("conditions", []))


class ApiServer:
    """/apis/<group>/<version>/namespaces/<ns>/<plural>[/<name>]"""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.app = web.Application(middlewares=[self.authenticate])
        base = "/apis/{group}/{version}/namespaces/{namespace}/{plural}"
        self.app.router.add_get(base, self.list)
        self.app.router.add_post(base, self.create)
        self.app.router.add_get(base + "/{name}", self.get)
        self.app.router.add_patch(base + "/{name}", self.patch)
        self.app.router.add_delete(base + "/{name}", self.delete)

    @web.middleware
    async def authenticate(self, request: web.Request, handler):
        self.cluster.requests.append((request.method, request.path_qs))
        if request.headers.get("Authorization") != f"Bearer {self.cluster.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        return await handler(request)

    def _kind(self, request: web.Request) -> tuple[str, str] | web.Response:
        m = request.match_info
        known = KINDS.get(m["plural"])
        if known is None or (known[0], known[1]) != (m["group"], m["version"]):
            return _status(404, "NotFound", "the server could not find the requested resource")
        return m["plural"], m["namespace"]

    async def create(self, request: web.Request) -> web.Response:
        kind = self._kind(request)
        if isinstance(kind, web.Response):
            return kind
        plural, namespace = kind
        body = await request.json()
        name = body.get("metadata", {}).get("name", "")
        if (plural, namespace, name) in self.cluster.objects:
            return _status(409, "AlreadyExists", f'{plural}.{KINDS[plural][0]} "{name}" already exists')
        obj = self.cluster.new(plural, namespace, name, body.get("spec", {}), body["metadata"].get("labels"))
        obj["metadata"]["annotations"] = body["metadata"].get("annotations", {})
        await self.cluster.put(plural, namespace, obj, "ADDED")
        if plural == "sandboxclaims":
            asyncio.get_running_loop().create_task(self.cluster.reconcile_claim(namespace, name))
        return web.json_response(obj, status=201)

    async def get(self, request: web.Request) -> web.Response:
        kind = self._kind(request)
        if isinstance(kind, web.Response):
            return kind
        obj = self.cluster.objects.get((*kind, request.match_info["name"]))
        if obj is None:
            return _status(404, "NotFound", f'{kind[0]} "{request.match_info["name"]}" not found')
        return web.json_response(obj)

    async def patch(self, request: web.Request) -> web.Response:
        kind = self._kind(request)
        if isinstance(kind, web.Response):
            return kind
        if request.content_type != "application/merge-patch+json":
            return _status(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                                                        "accepted media types include: application/merge-patch+json")
        obj = self.cluster.objects.get((*kind, request.match_info["name"]))
        if obj is None:
            return _status(404, "NotFound", f'{kind[0]} "{request.match_info["name"]}" not found')
        patch = await request.json()
        mode = patch.get("spec", {}).get("operatingMode")
        if mode is not None and mode not in ("Running", "Suspended"):
            return _status(422, "Invalid", f'spec.operatingMode: Unsupported value: "{mode}"')
        obj["spec"].update(patch.get("spec", {}))
        await self.cluster.put(*kind, obj)
        if kind[0] == "sandboxes":
            await self.cluster.reconcile_sandbox(kind[1], obj["metadata"]["name"])
        return web.json_response(obj)

    async def delete(self, request: web.Request) -> web.Response:
        kind = self._kind(request)
        if isinstance(kind, web.Response):
            return kind
        plural, namespace = kind
        name = request.match_info["name"]
        obj = await self.cluster.remove(plural, namespace, name)
        if obj is None:
            return _status(404, "NotFound", f'{plural} "{name}" not found')
        return web.json_response({"kind": "Status", "apiVersion": "v1", "status": "Success",
                                  "details": {"name": name, "kind": plural}})

    async def list(self, request: web.Request) -> web.StreamResponse:
        kind = self._kind(request)
        if isinstance(kind, web.Response):
            return kind
        plural, namespace = kind
        wanted = request.query.get("fieldSelector", "")
        name = wanted.removeprefix("metadata.name=") if wanted.startswith("metadata.name=") else None

        def matches(obj: dict) -> bool:
            return name is None or obj["metadata"]["name"] == name

        current = [o for (p, ns, _), o in self.cluster.objects.items() if p == plural and ns == namespace and matches(o)]
        if request.query.get("watch", "").lower() not in ("1", "t", "true"):  # as Go's ParseBool reads it
            return web.json_response({"apiVersion": f"{KINDS[plural][0]}/{KINDS[plural][1]}",
                                      "kind": KINDS[plural][2] + "List", "items": current,
                                      "metadata": {"resourceVersion": str(len(self.cluster.events))}})
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        since = request.query.get("resourceVersion", "")
        if since in ("", "0"):  # start at any: the current state first
            for obj in current:
                await response.write((json.dumps({"type": "ADDED", "object": obj}) + "\n").encode())
            seen = len(self.cluster.events)
        else:
            seen = next((i + 1 for i, e in enumerate(self.cluster.events) if e.version == int(since)),
                        len(self.cluster.events))
        deadline = asyncio.get_running_loop().time() + int(request.query.get("timeoutSeconds", "1800"))
        while True:
            for event in self.cluster.events[seen:]:
                if event.plural == plural and event.namespace == namespace and matches(event.object):
                    await response.write((json.dumps({"type": event.type, "object": event.object}) + "\n").encode())
            seen = len(self.cluster.events)
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            async with self.cluster.changed:
                try:
                    await asyncio.wait_for(self.cluster.changed.wait(), remaining)
                except TimeoutError:
                    pass
        await response.write_eof()
        return response


class Router:
    """sandbox-router + the example python-runtime-sandbox in each pod."""

    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.app = web.Application(client_max_size=256 << 20)
        self.app.router.add_post("/execute", self.execute)
        self.app.router.add_post("/upload", self.upload)
        self.app.router.add_get("/download/{path:.*}", self.download)
        self.app.router.add_get("/list/{path:.*}", self.list)
        self.app.router.add_get("/exists/{path:.*}", self.exists)

    def _pod(self, request: web.Request) -> pathlib.Path | web.Response:
        sandbox = request.headers.get("X-Sandbox-ID")
        if not sandbox:
            return web.json_response({"detail": "X-Sandbox-ID header is required."}, status=400)
        namespace = request.headers.get("X-Sandbox-Namespace", "default")
        if not self.cluster.ready(namespace, sandbox):
            return web.json_response({"detail": f"Could not connect to the backend sandbox: {sandbox}"}, status=502)
        return self.cluster.pod_dir(namespace, sandbox)

    @staticmethod
    def _safe(base: pathlib.Path, path: str) -> pathlib.Path | None:
        full = pathlib.Path(os.path.realpath(base / path.lstrip("/")))
        return full if os.path.commonpath([base.resolve(), full]) == str(base.resolve()) else None

    async def execute(self, request: web.Request) -> web.Response:
        base = self._pod(request)
        if isinstance(base, web.Response):
            return base
        command = (await request.json())["command"]
        try:
            process = await asyncio.create_subprocess_exec(
                *shlex.split(command), cwd=base, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True)
        except Exception as exc:  # as the runtime answers a command it cannot start
            return web.json_response({"stdout": "", "stderr": f"Failed to execute command: {exc}", "exit_code": 1})
        sandbox = request.headers["X-Sandbox-ID"]
        self.cluster.processes.setdefault(sandbox, set()).add(process)
        try:
            stdout, stderr = await process.communicate()
        finally:
            self.cluster.processes.get(sandbox, set()).discard(process)
        return web.json_response({"stdout": stdout.decode(errors="replace"), "stderr": stderr.decode(errors="replace"),
                                  "exit_code": process.returncode})

    async def upload(self, request: web.Request) -> web.Response:
        base = self._pod(request)
        if isinstance(base, web.Response):
            return base
        reader = await request.multipart()
        part = await reader.next()
        target = self._safe(base, part.filename or "")
        if target is None:
            return web.json_response({"message": "Access denied"}, status=403)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "wb") as f:
            while chunk := await part.read_chunk():
                f.write(chunk)
        return web.json_response({"message": f"File '{part.filename}' uploaded successfully."})

    def _target(self, request: web.Request) -> pathlib.Path | web.Response:
        """The pod's file a request's {path} names, or the runtime's refusal."""
        base = self._pod(request)
        if isinstance(base, web.Response):
            return base
        target = self._safe(base, request.match_info["path"])
        return web.json_response({"message": "Access denied"}, status=403) if target is None else target

    async def download(self, request: web.Request) -> web.StreamResponse:
        target = self._target(request)
        if isinstance(target, web.Response):
            return target
        if not target.is_file():
            return web.json_response({"message": "File not found"}, status=404)
        return web.FileResponse(target)


    async def list(self, request: web.Request) -> web.Response:
        target = self._target(request)
        if isinstance(target, web.Response):
            return target
        if not target.is_dir():
            return web.json_response({"message": "Path is not a directory"}, status=404)
        return web.json_response([{"name": e.name, "size": e.stat().st_size,
                                   "type": "directory" if e.is_dir() else "file", "mod_time": e.stat().st_mtime}
                                  for e in os.scandir(target)])

    async def exists(self, request: web.Request) -> web.Response:
        target = self._target(request)
        if isinstance(target, web.Response):
            return target
        return web.json_response({"path": request.match_info["path"], "exists": target.exists()})


@dataclasses.dataclass
class FakeAgentSandbox:
    cluster: Cluster
    api_url: str
    router_url: str
    runners: list

    def kubeconfig(self, path: pathlib.Path) -> pathlib.Path:
        """A kubeconfig for this cluster, as `kubectl config view --raw` writes one."""
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": self.api_url}}],
            "users": [{"name": "cerver", "user": {"token": self.cluster.token}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "cerver", "namespace": "sandboxes"}}]}))
        return path

    async def close(self) -> None:
        for sandbox in list(self.cluster.processes):
            await self.cluster.kill(sandbox)
        for runner in self.runners:
            await runner.cleanup()


async def start(root: pathlib.Path) -> FakeAgentSandbox:
    cluster = Cluster(root, secrets.token_urlsafe(16))
    urls, runners = [], []
    for app in (ApiServer(cluster).app, Router(cluster).app):
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        urls.append(f"http://127.0.0.1:{runner.addresses[0][1]}")
        runners.append(runner)
    return FakeAgentSandbox(cluster, urls[0], urls[1], runners)
