"""The contract: generated code matches proto/, and both edges route every
annotated service."""
import filecmp
import pathlib
import subprocess
import sys

import pytest
import yaml

import gateway
from gateway import routes

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_generated_code_matches_proto(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "proto" / "generate.py"), str(tmp_path)], check=True)
    committed = ROOT / "gen"
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    existing = sorted(p.relative_to(committed) for p in committed.rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts)
    assert generated == existing, "gen/ has files make proto would not write (or lacks some): run `make proto`"
    stale = [str(p) for p in generated if not filecmp.cmp(tmp_path / p, committed / p, shallow=False)]
    assert not stale, f"gen/ differs from proto/: run `make proto` ({stale})"


def _envoy():
    return yaml.safe_load((ROOT / "gateway" / "envoy.yaml").read_text())


def _annotated_services(pool) -> set[str]:
    table = routes.build(pool, gateway.BACKENDS)
    return {r.method.containing_service.full_name for r in table}


def test_envoy_config_matches_the_descriptor_set():
    pool, _ = routes.load(gateway.DESCRIPTOR_SET)
    cfg = _envoy()
    hcm = cfg["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    transcoder = next(f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.grpc_json_transcoder")
    tc = transcoder["typed_config"]
    named = set(tc["services"])
    for service in named:
        assert pool.FindServiceByName(service), service  # every named service exists
    assert _annotated_services(pool) <= named  # every annotated service is transcoded
    assert tc["print_options"]["preserve_proto_field_names"] and tc["print_options"]["stream_sse_style_delimited"]
    assert tc["print_options"]["always_print_primitive_fields"] and tc["convert_grpc_status"]
    assert tc["proto_descriptor"].endswith(gateway.DESCRIPTOR_SET.name)

    vhost = hcm["route_config"]["virtual_hosts"][0]
    clusters = {c["name"] for c in cfg["static_resources"]["clusters"]}
    prefixes = {}
    for route in vhost["routes"]:
        match = route["match"]
        if "route" in route:
            assert route["route"]["cluster"] in clusters
        if "prefix" in match:
            prefixes[match["prefix"].strip("/")] = route["route"]["cluster"]
    for service in named:
        assert prefixes.get(service) == gateway.BACKENDS[service], f"{service} is not routed to its cluster"
        for method in pool.FindServiceByName(service).methods:
            assert method.full_name.startswith(service)
    ws = next(r for r in vhost["routes"] if r["match"].get("path") == "/v2/connect/ws")
    assert ws["route"]["cluster"] == "relay_ws" and ws["route"]["upgrade_configs"][0]["upgrade_type"] == "websocket"
    served = {r["match"].get("path"): r for r in vhost["routes"] if "direct_response" in r}
    assert served["/v2/docs"]["direct_response"]["body"]["filename"].endswith("openapi.json")
    assert served["/"]["direct_response"]["body"]["filename"].endswith("index.json")
    assert served["/device"]["direct_response"]["body"]["filename"].endswith("device.html")


def test_every_rule_in_the_contract_becomes_a_route():
    pool, _ = routes.load(gateway.DESCRIPTOR_SET)
    table = routes.build(pool, gateway.BACKENDS)
    templates = {(r.verb, r.template) for r in table}
    # spec/000 endpoints (those with HTTP rules) and spec/002's /gateway names.
    for verb, path in [("POST", "/v2/auth/login"), ("GET", "/v2/auth/account"), ("GET", "/v2/auth/keys"),
                       ("POST", "/v2/auth/keys"), ("DELETE", "/v2/auth/keys/{prefix}"), ("POST", "/v2/sessions"),
                       ("GET", "/v2/sessions"), ("GET", "/v2/sessions/{session_id}"),
                       ("POST", "/v2/sessions/{session_id}/run"), ("POST", "/v2/sessions/{session_id}/run/stream"),
                       ("POST", "/v2/sessions/{session_id}/input"), ("GET", "/v2/sessions/{session_id}/metrics"),
                       ("POST", "/v2/sessions/{session_id}/pause"), ("POST", "/v2/sessions/{session_id}/resume"),
                       ("POST", "/v2/sessions/{session_id}/spawn"), ("DELETE", "/v2/sessions/{session_id}"),
                       ("POST", "/v2/sessions/{session_id}/run-llm"), ("POST", "/v2/sessions/{session_id}/compute"),
                       ("POST", "/v2/sessions/{session_id}/transcript"), ("GET", "/v2/computes"),
                       ("GET", "/v2/computes/{compute_id}"), ("POST", "/v2/computes/register"),
                       ("POST", "/v2/computes/{compute_id}/heartbeat"), ("DELETE", "/v2/computes/{compute_id}"),
                       ("GET", "/v2/account/providers"), ("POST", "/v2/account/providers"),
                       ("DELETE", "/v2/account/providers/{provider}"), ("POST", "/v2/auth/device"),
                       ("GET", "/v2/auth/device"), ("POST", "/v2/auth/approve"), ("POST", "/gateway/recommend"),
                       ("POST", "/gateway/sessions"), ("POST", "/gateway/sessions/{session_id}/input"),
                       ("POST", "/gateway/sessions/{session_id}/run"),
                       ("POST", "/gateway/sessions/{session_id}/run/stream"),
                       ("GET", "/gateway/sessions/{session_id}/metrics"), ("GET", "/gateway/sessions/{session_id}"),
                       ("DELETE", "/gateway/sessions/{session_id}"), ("POST", "/gateway/stress-tests"),
                       ("GET", "/gateway/providers")]:
        assert (verb, path) in templates, (verb, path)


def test_kubernetes_manifests_deploy_every_service():
    from servicekit.config import NODE, SERVICES

    docs = [d for part in ("control/services.yaml", "node/node.yaml")
            for d in yaml.safe_load_all((ROOT / "deploy" / "k8s" / part).read_text()) if d]
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] in ("Deployment", "DaemonSet")}
    assert set(deployments) == {*SERVICES, NODE}
    # One node runtime per machine, found through a headless Service.
    assert next(d for d in docs if d["metadata"]["name"] == NODE and d["kind"] == "DaemonSet")
    assert next(d for d in docs if d["metadata"]["name"] == NODE and d["kind"] == "Service")["spec"]["clusterIP"] == "None"
    for name, d in deployments.items():
        container = d["spec"]["template"]["spec"]["containers"][0]
        assert container["command"][-1] == f"services.{name}"
        assert "grpc" in container["readinessProbe"]
        env = {e["name"] for e in container["env"]}
        if name != NODE:  # the node runtime has no database and calls only auth
            assert {f"CERVER_{s.upper()}_ADDR" for s in SERVICES} <= env and "CERVER_DATABASE_URL" in env
    compute_env = {e["name"] for e in deployments["compute"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "CERVER_NODE_ADDR" in compute_env
    # (Rendering and schema validation: tests/test_manifests.py.)


def test_every_documented_pattern_refuses_nul_where_the_guard_does():
    """The guard refuses NUL in any string not annotated allow_nul; a field's
    own pattern is what /v2/docs states for it, so the pattern must refuse
    NUL as well, or the document would call a refused request valid."""
    import re

    from gateway import DESCRIPTOR_SET, routes
    from servicekit import rules

    pool, files = routes.load(DESCRIPTOR_SET)
    seen = 0
    for file in files.file:
        if not file.package.startswith("cerver."):
            continue
        for message in file.message_type:
            desc = pool.FindMessageTypeByName(f"{file.package}.{message.name}")
            for field in desc.fields:
                found = rules.field_rules(field)
                for pattern in (found.pattern, found.key_pattern) if found is not None else ():
                    if pattern and not found.allow_nul:
                        seen += 1
                        assert not re.fullmatch(pattern, "a\0b"), (desc.full_name, field.name, pattern)
    assert seen >= 8


def test_envoy_config_is_valid_for_envoys_api():
    """Every field and enum value of gateway/envoy.yaml, typed configs
    included, exists in Envoy's v3 API (envoy-data-plane's classes of it;
    unknown names are refused): what `envoy --mode validate` checks first."""
    import importlib

    from envoy_data_plane.envoy.config.bootstrap.v3 import Bootstrap

    config = _envoy()

    def type_urls(node):
        if isinstance(node, dict):
            if "@type" in node:
                yield node["@type"]
            for value in node.values():
                yield from type_urls(value)
        elif isinstance(node, list):
            for value in node:
                yield from type_urls(value)

    for url in set(type_urls(config)):
        module = url.split("/", 1)[1].rpartition(".")[0]
        importlib.import_module(f"envoy_data_plane.{module}")  # registers the typed config's class
    bootstrap = Bootstrap.from_dict(config)
    assert bootstrap.static_resources.listeners[0].name == "cerver_http"
    # The check refuses what Envoy would: an unknown field, an unknown enum value.
    text = (ROOT / "gateway" / "envoy.yaml").read_text()
    for broken in (text.replace("stream_sse_style_delimited", "stream_sse_delimited"),
                   text.replace("codec_type: AUTO", "codec_type: AUTOMATIC")):
        with pytest.raises((KeyError, ValueError)):
            Bootstrap.from_dict(yaml.safe_load(broken))
    image = next(c["image"] for d in yaml.safe_load_all((ROOT / "deploy/k8s/control/edge.yaml").read_text())
                 if d and d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"])
    major, minor, patch = map(int, image.rpartition(":v")[2].split("."))  # an exact release, never -latest
    assert (major, minor) >= (1, 36), image


def test_envoy_keeps_internal_methods_and_vouching_headers_off_the_public_listener():
    from servicekit import rules
    from cerver.v2 import options_pb2

    pool, _ = routes.load(gateway.DESCRIPTOR_SET)
    vhost = _envoy()["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"][
        "route_config"]["virtual_hosts"][0]
    internal = {f"/{m.full_name.rsplit('.', 1)[0]}/{m.name}" for service in gateway.BACKENDS
                for m in pool.FindServiceByName(service).methods if rules.access(m) == options_pb2.ACCESS_INTERNAL}
    routes_in_order = vhost["routes"]
    denied = {r["match"]["path"] for r in routes_in_order
              if r["match"].get("path") in internal and r["direct_response"]["status"] == 404}
    assert denied == internal, internal - denied
    first_prefix = next(i for i, r in enumerate(routes_in_order) if "prefix" in r["match"])
    assert all(i < first_prefix for i, r in enumerate(routes_in_order) if r["match"].get("path") in internal)
    from servicekit import auth
    assert {auth.SERVICE_TOKEN_HEADER, auth.ACCOUNT_HEADER, auth.HOP_HEADER} <= set(vhost["request_headers_to_remove"])


def test_envoy_answers_its_own_errors_and_pages_as_the_embedded_edge_does():
    from gateway.transcode import HTTP_STATUS

    hcm = _envoy()["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    replies = hcm["local_reply_config"]
    for mapper in replies["mappers"]:
        http = mapper["filter"]["status_code_filter"]["comparison"]["value"]["default_value"]
        body = mapper["body_format_override"]
        code = body["json_format"]["code"]
        assert body["content_type"] == "application/json" and set(body["json_format"]) == {"code", "message", "details"}
        # The edge's table read backwards (Envoy also answers statuses no gRPC code maps to).
        assert HTTP_STATUS.get(code) == http or http in (405, 408, 413, 431, 502), (http, code)
    assert replies["body_format"]["json_format"]["code"] == 2
    assert hcm["access_log"]
    # Every path the embedded edge serves itself, Envoy serves too, around the transcoder.
    from gateway import dashboard, mcp
    from gateway.edge import OWN_PAGES

    own = {*OWN_PAGES, mcp.PATH, dashboard.SKILL_PATH, dashboard.PATH}
    routed = {route["match"].get("path", route["match"].get("path_separated_prefix")): route
              for route in hcm["route_config"]["virtual_hosts"][0]["routes"]}
    assert own <= set(routed), own - set(routed)
    for path in own:
        per_filter = routed[path]["typed_per_filter_config"]["envoy.filters.http.grpc_json_transcoder"]
        assert per_filter["disabled"] is True, path
    # /mcp, the dashboard and the skill go to the embedded edge beside Envoy in the edge pod, on the port
    # it listens on there.
    assert routed[mcp.PATH]["route"]["cluster"] == routed[dashboard.PATH]["route"]["cluster"] == \
        routed[dashboard.SKILL_PATH]["route"]["cluster"]
    cluster = next(c for c in _envoy()["static_resources"]["clusters"]
                   if c["name"] == routed[mcp.PATH]["route"]["cluster"])
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    edge = next(d for d in yaml.safe_load_all((ROOT / "deploy/k8s/control/edge.yaml").read_text())
                if d and d["kind"] == "Deployment")
    sidecar = next(c for c in edge["spec"]["template"]["spec"]["containers"] if c.get("command", [])[-1:] == ["gateway"])
    env = {e["name"]: e.get("value") for e in sidecar["env"]}
    assert (address["address"], str(address["port_value"])) == (env["CERVER_HTTP_HOST"], env["CERVER_HTTP_PORT"])
