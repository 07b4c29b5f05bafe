"""The Kubernetes manifests as a platform team applies them: `kubectl
kustomize deploy/k8s` (what `kubectl apply -k`, Argo CD and Flux do) renders
with no flags; every object validates, strictly, against each Kubernetes
version we support (1.30, the first with `appArmorProfile` in a
securityContext, to 1.35); none is too large for client-side apply's
last-applied annotation; and Envoy's files, which the edge pod's init
container writes from the Cerver image, are the contract's."""
import json
import pathlib
import re
import subprocess
import sys

import kubernetes_validate
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
KUBERNETES = ("1.30", "1.31", "1.32", "1.33", "1.34", "1.35")
LAST_APPLIED_LIMIT = 262144  # bytes of all annotations of an object


def _rendered(folder: str = "k8s") -> list[dict]:
    out = subprocess.run(["kubectl", "kustomize", str(ROOT / "deploy" / folder)], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.mark.parametrize("folder", ["k8s", "overlays/small", "overlays/production"])
def test_the_manifests_render_as_is_and_validate_on_every_supported_version(folder):
    docs = _rendered(folder)
    assert {d["kind"] for d in docs} >= {"Namespace", "Deployment", "DaemonSet", "Service"}
    for version in KUBERNETES:
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)
    for doc in docs:
        assert len(json.dumps(doc)) < LAST_APPLIED_LIMIT, (doc["kind"], doc["metadata"]["name"])


def test_the_overlays_say_what_they_are():
    small = _rendered("overlays/small")
    assert {d["spec"]["replicas"] for d in small if d["kind"] == "Deployment"} == {1}
    assert not {d["kind"] for d in small} & {"HorizontalPodAutoscaler", "PodDisruptionBudget"}
    production = _rendered("overlays/production")
    for d in production:
        if d["kind"] == "Deployment":
            pod = d["spec"]["template"]["spec"]
            assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
                "topology.kubernetes.io/zone", "kubernetes.io/hostname"}
            assert not any(c["image"].endswith(":latest") for c in pod["containers"] if "cerver" in c["image"])


def test_envoy_gets_its_files_from_the_image_the_services_run():
    docs = _rendered()
    edge = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "edge")
    pod = edge["spec"]["template"]["spec"]
    init = pod["initContainers"][0]
    services = {c["image"] for d in docs if d["kind"] in ("Deployment", "DaemonSet") and d is not edge
                for c in d["spec"]["template"]["spec"]["containers"]}
    assert services == {init["image"]}  # the same image: the same contract
    envoy = pod["containers"][0]
    folder = init["command"][-1]
    assert init["command"][1:3] == ["-m", "gateway.export"] and envoy["args"] == ["-c", f"{folder}/envoy.yaml"]
    mounts = {(m["name"], m["mountPath"]) for m in init["volumeMounts"]} & \
        {(m["name"], m["mountPath"]) for m in envoy["volumeMounts"]}
    assert {path for _, path in mounts} == {folder}  # what it writes is what Envoy reads


def test_the_init_container_writes_every_file_envoy_names(tmp_path):
    subprocess.run([sys.executable, "-m", "gateway.export", str(tmp_path)], check=True, cwd=ROOT, timeout=60)
    config = (tmp_path / "envoy.yaml").read_text()
    named = set(re.findall(r"/etc/cerver/([\w.]+)", config))
    assert named and named <= {p.name for p in tmp_path.iterdir()}, named
    assert (tmp_path / "cerver.binpb").read_bytes() == (ROOT / "gen" / "cerver.binpb").read_bytes()


def test_every_component_runs_locked_down_except_the_node_pool_which_is_fenced():
    docs = _rendered()
    accounts = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ServiceAccount"}
    workloads = [d for d in docs if d["kind"] in ("Deployment", "DaemonSet")]
    for w in workloads:
        name, pod = w["metadata"]["name"], w["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == name and name in accounts
        # Only compute talks to the Kubernetes API (its kubernetes provider).
        assert accounts[name].get("automountServiceAccountToken", True) == (name == "compute"), name
        for c in pod.get("initContainers", []) + pod["containers"]:
            assert c["resources"]["requests"], (name, c["name"])
            if w["kind"] == "DaemonSet":
                continue  # the node pool: sandboxes need its privileges and memory (deploy/k8s/README.md)
            assert c["resources"]["limits"]["memory"], (name, c["name"])
            ctx = {**pod.get("securityContext", {}), **c["securityContext"]}
            assert ctx["runAsNonRoot"] and ctx["runAsUser"] and not ctx["allowPrivilegeEscalation"], (name, ctx)
            assert ctx["readOnlyRootFilesystem"] and ctx["capabilities"]["drop"] == ["ALL"], (name, ctx)
    job = next(d for d in docs if d["kind"] == "Job" and d["metadata"]["name"] == "migrate")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["python", "-m", "servicekit.migrations"]
    budgets = {d["spec"]["selector"]["matchLabels"]["service"] for d in docs if d["kind"] == "PodDisruptionBudget"}
    assert budgets == {w["metadata"]["name"] for w in workloads if w["kind"] == "Deployment"}
    policies = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "NetworkPolicy"}
    assert policies["default-deny-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    fenced = [rule["to"][0]["ipBlock"] for rule in policies["node-egress"]["egress"] if "ipBlock" in rule["to"][0]]
    assert fenced == [{"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                      "169.254.0.0/16", "100.64.0.0/10"]}]


def _restricted_violations(pod: dict) -> list[str]:
    """What keeps a pod out of Pod Security's "restricted" profile (the
    checks of kubernetes.io/docs/concepts/security/pod-security-standards)."""
    out = []
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                         "projected", "secret"}:
            out.append(f"volume {volume['name']}: {kinds}")
    if pod.get("hostNetwork") or pod.get("hostPID") or pod.get("hostIPC"):
        out.append("host namespaces")
    level = pod.get("securityContext", {})
    for c in pod.get("initContainers", []) + pod["containers"]:
        ctx = {**level, **c.get("securityContext", {})}
        if ctx.get("privileged") or ctx.get("allowPrivilegeEscalation", True):
            out.append(f"{c['name']}: privilege escalation")
        if not ctx.get("runAsNonRoot") or ctx.get("runAsUser") == 0:
            out.append(f"{c['name']}: may run as root")
        if ctx.get("seccompProfile", {}).get("type") not in ("RuntimeDefault", "Localhost"):
            out.append(f"{c['name']}: seccomp")
        caps = ctx.get("capabilities", {})
        if caps.get("drop") != ["ALL"] or set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            out.append(f"{c['name']}: capabilities")
        if c.get("ports") and any(p.get("hostPort") for p in c["ports"]):
            out.append(f"{c['name']}: host port")
    return out


@pytest.mark.parametrize("folder", ["k8s", "overlays/production", "overlays/small"])
def test_pod_security_admits_every_pod_and_only_the_node_pool_is_privileged(folder):
    docs = _rendered(folder)
    levels = {d["metadata"]["name"]: d["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
              for d in docs if d["kind"] == "Namespace"}
    pods = [(d["metadata"]["namespace"], d["metadata"]["name"], d["spec"]["template"]["spec"])
            for d in docs if d["kind"] in ("Deployment", "DaemonSet", "Job")]
    for namespace, name, pod in pods:
        problems = _restricted_violations(pod)
        if name == "node":
            assert problems and levels[namespace] == "privileged", (namespace, levels)
        else:
            assert not problems, (name, problems)
    if folder != "overlays/small":  # one namespace there, and it must admit the node pool
        assert levels == {"cerver": "restricted", "cerver-node": "privileged"}
        assert {ns for ns, name, _ in pods if name == "node"} == {"cerver-node"}


def test_the_postgresql_connection_budget_is_what_the_readme_says():
    docs = _rendered()
    scaled = {d["spec"]["scaleTargetRef"]["name"]: d["spec"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    base = peak = 0
    for d in docs:
        if d["kind"] != "Deployment":
            continue
        env = {e["name"]: e for e in d["spec"]["template"]["spec"]["containers"][0].get("env", [])}
        if "CERVER_DATABASE_URL" not in env:
            continue
        per_process = 2 * (int(env["CERVER_DB_POOL_SIZE"]["value"]) + int(env["CERVER_DB_MAX_OVERFLOW"]["value"]))
        hpa = scaled.get(d["metadata"]["name"], {})
        base += max(d["spec"]["replicas"], hpa.get("minReplicas", 0)) * per_process
        peak += hpa.get("maxReplicas", d["spec"]["replicas"]) * per_process
    readme = (ROOT / "deploy" / "k8s" / "README.md").read_text()
    assert base <= 100 and f"that is {base}," in readme and f"it is {peak}:" in readme, (base, peak)
