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
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
KUBERNETES = ("1.30", "1.31", "1.32", "1.33", "1.34", "1.35")
LAST_APPLIED_LIMIT = 262144  # bytes of all annotations of an object


def _rendered() -> list[dict]:
    out = subprocess.run(["kubectl", "kustomize", str(ROOT / "deploy" / "k8s")], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def test_the_manifests_render_as_is_and_validate_on_every_supported_version():
    docs = _rendered()
    assert {d["kind"] for d in docs} >= {"Namespace", "Deployment", "DaemonSet", "Service"}
    for version in KUBERNETES:
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)
    for doc in docs:
        assert len(json.dumps(doc)) < LAST_APPLIED_LIMIT, (doc["kind"], doc["metadata"]["name"])


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
