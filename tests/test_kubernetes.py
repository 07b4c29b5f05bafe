"""The kubernetes provider (kubernetes-sigs/agent-sandbox v1beta1) through the
whole session flow, against a stand-in for a cluster that follows the
Kubernetes API and agent-sandbox's controllers and router (tests/fakes)."""
import base64

import pytest

from tests.conftest import running_stack
from tests.fakes import agent_sandbox

NAMESPACE, POOL = "sandboxes", "python-pool"


@pytest.fixture
async def cluster(tmp_path, monkeypatch):
    fake = await agent_sandbox.start(tmp_path / "pods")
    await fake.cluster.add_pool(NAMESPACE, POOL)
    monkeypatch.setenv("KUBECONFIG", str(fake.kubeconfig(tmp_path / "kubeconfig")))
    monkeypatch.setenv("CERVER_K8S_WARMPOOL", POOL)
    monkeypatch.setenv("CERVER_K8S_NAMESPACE", NAMESPACE)
    monkeypatch.setenv("CERVER_K8S_ROUTER_URL", fake.router_url)
    try:
        yield fake
    finally:
        await fake.close()


def _claims(fake) -> dict:
    return {name: obj for (plural, ns, name), obj in fake.cluster.objects.items() if plural == "sandboxclaims"}


def _sandbox(fake, claim: dict) -> dict:
    return fake.cluster.objects[("sandboxes", NAMESPACE, claim["status"]["sandbox"]["name"])]


async def test_a_session_runs_on_kubernetes_from_create_to_delete(cluster, tmp_path):
    async with running_stack(tmp_path / "stack") as stack:
        api = stack.api
        key = await api.login()
        _, listed, _, _ = await api.call("GET", "/v2/computes", key=key)
        k8s = next(c for c in listed["computes"] if c["provider"] == "kubernetes")
        assert k8s["status"] == "online" and k8s["kind"] == "shared" and k8s["name"] == f"kubernetes ({NAMESPACE}/{POOL})"

        status, s, text, _ = await api.call("POST", "/v2/sessions", {"compute": {"provider": "kubernetes"},
                                                                      "requirements": {"persistence_level": "high"}},
                                            key=key)
        assert status == 200 and s["provider"] == "kubernetes" and s["status"] == "ready", text
        sid = s["session_id"]
        # A SandboxClaim against the warm pool, made by Cerver, bound and Ready.
        (claim_name, claim), = _claims(cluster).items()
        assert claim["spec"] == {"warmPoolRef": {"name": POOL}}
        assert claim["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "cerver"
        assert claim["metadata"]["labels"]["cerver.dev/sandbox-id"] == s["sandbox_id"]

        async def run(code, **extra):
            status, ran, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run", {"code": code, **extra}, key=key)
            assert status == 200, text
            return ran["result"]

        ran = await run("echo hi; echo oops >&2; exit 3")
        assert (ran["stdout"], ran["stderr"], ran["exit_code"]) == ("hi\n", "oops\n", 3)
        assert (await run("print(6 * 7)", runtime="python"))["stdout"] == "42\n"
        assert (await run("cat; echo \" $GREETING\"", stdin="from stdin", env={"GREETING": "hello"}))["stdout"] == \
            "from stdin hello\n"
        timed = await run("sleep 30", timeout=1)
        assert timed["timed_out"] and timed["reason"] == "timeout", timed
        status, err, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run", {"code": "1", "runtime": "node"},
                                              key=key)
        assert status == 400 and "node" in err["message"], text

        # Streams: the runtime answers once, at the end; the stream carries it.
        async with api.http.post(f"{api.base}/v2/sessions/{sid}/run/stream", json={"code": "echo one; echo two"},
                                 headers={"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}) as r:
            body = await r.text()
        assert r.status == 200 and "one\\ntwo\\n" in body and '"exit_code": 0' in body.replace('":0', '": 0'), body

        # Files, binary included, through the runtime's upload and download.
        base = f"/v2/sandbox/{s['sandbox_id']}/files"
        blob = bytes(range(256)) * 64
        status, info, text, _ = await api.call("POST", base, {"path": "data/blob.bin", "encoding": "base64",
                                                               "content": base64.b64encode(blob).decode()}, key=key)
        assert status == 200 and info["size"] == len(blob), text
        _, got, _, _ = await api.call("GET", f"{base}?path=data/blob.bin&encoding=base64", key=key)
        assert base64.b64decode(got["content"]) == blob
        assert (await api.call("GET", f"{base}?path=missing.txt", key=key))[0] == 404
        _, listed, _, _ = await api.call("GET", f"{base}/list?path=data", key=key)
        assert [(e["name"], e["path"], e["type"], e["size"]) for e in listed["entries"]] == \
            [("blob.bin", "data/blob.bin", "file", str(len(blob)))]
        assert (await api.call("GET", f"{base}/exists?path=data/blob.bin", key=key))[1]["exists"] is True
        assert (await api.call("DELETE", f"{base}?path=data", key=key))[1]["deleted"] is True
        assert (await api.call("GET", f"{base}/exists?path=data/blob.bin", key=key))[1]["exists"] is False
        assert (await api.call("DELETE", f"{base}?path=data", key=key))[0] == 404
        assert (await api.call("DELETE", f"{base}?path=../x", key=key))[0] == 400
        assert (await api.call("POST", base, {"path": "../../escape", "content": "x"}, key=key))[0] == 400

        # Pause: the Sandbox is Suspended (its pod ends, its volume stays).
        await run("echo kept > state.txt")
        status, paused, text, _ = await api.call("POST", f"/v2/sessions/{sid}/pause", {}, key=key)
        assert status == 200 and paused["status"] == "paused", text
        assert _sandbox(cluster, claim)["spec"]["operatingMode"] == "Suspended"
        # Resume: Running again, same claim, same files.
        status, resumed, text, _ = await api.call("POST", f"/v2/sessions/{sid}/resume", {}, key=key)
        assert status == 200 and resumed["status"] == "ready" and resumed["provider"] == "kubernetes", text
        assert _sandbox(cluster, claim)["spec"]["operatingMode"] == "Running"
        assert list(_claims(cluster)) == [claim_name]
        assert (await run("cat state.txt"))["stdout"] == "kept\n"

        # A claim deleted behind Cerver's back: the run says so, the session pauses.
        status, other, text, _ = await api.call("POST", "/v2/sessions", {"compute": {"provider": "kubernetes"}},
                                                key=key)
        assert status == 200, text
        lost = next(n for n in _claims(cluster) if n != claim_name)
        await cluster.cluster.remove("sandboxclaims", NAMESPACE, lost)
        status, err, text, _ = await api.call("POST", f"/v2/sessions/{other['session_id']}/run", {"code": "echo"},
                                              key=key)
        assert status in (409, 503) and "paused" in err["message"], text

        # Delete: the claim goes (and its sandbox with it).
        status, _, text, _ = await api.call("DELETE", f"/v2/sessions/{sid}", key=key)
        assert status == 200, text
        assert claim_name not in _claims(cluster)
        # Every call to the API server carried the kubeconfig's token.
        assert cluster.cluster.requests and not any(path.startswith("/api/v1/secrets") for _, path in
                                                    cluster.cluster.requests)


async def test_a_cluster_that_refuses_or_lacks_the_pool_is_offline(cluster, tmp_path, monkeypatch):
    """Wrong credentials (401) or no such warm pool: the compute is offline,
    the router does not call it executable, and a session asking for it is
    told so (503), never a 500."""
    cluster.cluster.token = "rotated"  # the kubeconfig's token no longer works
    monkeypatch.setenv("CERVER_K8S_WARMPOOL", POOL)
    async with running_stack(tmp_path / "stack") as stack:
        api = stack.api
        key = await api.login()
        _, listed, _, _ = await api.call("GET", "/v2/computes", key=key)
        k8s = [c for c in listed["computes"] if c["provider"] == "kubernetes"]
        assert len(k8s) == 1 and k8s[0]["status"] == "offline", listed
        status, err, text, _ = await api.call("POST", "/v2/sessions", {"compute": {"provider": "kubernetes"}},
                                              key=key)
        assert status == 409 and err["code"] == 10, text
        report = next(p for p in err["details"][0]["providers"] if p["name"] == "kubernetes")
        assert "no kubernetes compute is online" in report["reason"], report
        assert not _claims(cluster)
        _, rec, text, _ = await api.call("POST", "/gateway/recommend", {"requirements": {"runtime": "python"}},
                                         key=key)
        k8s = next(p for p in rec["providers"] if p["name"] == "kubernetes")
        assert not k8s.get("executable") and rec["decision"]["recommended_provider"] != "kubernetes", k8s
