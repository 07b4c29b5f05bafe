"""The REST edge: transcoding from annotations, bad input, errors as JSON."""


async def test_index_and_openapi_come_from_the_descriptors(api):
    status, index, _, _ = await api.call("GET", "/")
    assert status == 200
    paths = {(e["method"], e["path"]) for e in index["endpoints"]}
    for expected in [("POST", "/v2/auth/login"), ("GET", "/v2/sessions/{session_id}"),
                     ("POST", "/v2/sessions/{session_id}/run/stream"), ("POST", "/gateway/recommend"),
                     ("GET", "/v2/computes"), ("DELETE", "/v2/auth/keys/{prefix}"), ("POST", "/gateway/stress-tests"),
                     ("POST", "/v2/sessions/{session_id}/run-llm"), ("POST", "/v2/sessions/{session_id}/compute")]:
        assert expected in paths, expected
    status, docs, _, _ = await api.call("GET", "/v2/docs")
    assert status == 200 and docs["openapi"].startswith("3.")
    assert "post" in docs["paths"]["/v2/sessions"] and "get" in docs["paths"]["/v2/sessions/{session_id}"]
    assert "text/event-stream" in docs["paths"]["/v2/sessions/{session_id}/run/stream"]["post"]["responses"]["200"]["content"]
    assert "array" in docs["components"]["schemas"]["cerver.v2.Session"]["properties"]["transcript"]["type"]
    schemas = docs["components"]["schemas"]
    # Proto3 JSON's null is "unset": optional fields, enums included, take it.
    assert None in schemas["cerver.v2.EntryInput"]["properties"]["role"]["enum"]
    # Rules between fields, and the deployment's own ranges.
    assert schemas["cerver.v2.Policy"]["allOf"][0]["anyOf"][1]["required"] == ["pinned_provider"]
    assert schemas["cerver.v2.Requirements"]["properties"]["memory_mb"]["maximum"] >= 64
    # Map keys have a pattern too (environment names, NUL nowhere).
    assert schemas["cerver.v2.RunCodeRequest"]["properties"]["env"]["propertyNames"]["pattern"] == "^(?:[^=\\x00]+)$"


async def test_bad_input_gets_a_json_status(api):
    key = await api.login()
    cases = [
        ("POST", "/v2/sessions", b"{not json", 400),
        ("POST", "/v2/sessions", b'{"session_name": 5}', 400),            # wrong type
        ("POST", "/v2/sessions", b'{"no_such_field": 1}', 400),           # unknown field
        ("POST", "/v2/sessions", b'[1, 2]', 400),                         # not an object
        ("POST", "/v2/sessions", "{\"session_name\": \"\xff\"}".encode("latin-1"), 400),  # not UTF-8
        ("GET", "/v2/sessions?limit=abc", None, 400),                     # bad query type
        ("GET", "/v2/sessions?bogus=1", None, 400),                       # unknown query parameter
        ("GET", "/v2/sessions?limit=100000", None, 400),                  # out of range
        ("GET", "/v2/nowhere", None, 404),
        ("PATCH", "/v2/sessions", None, 405),                             # a known path, another verb
        # JSON types as the document states them, where proto3's parser is lenient
        ("POST", "/v2/recommend", b'{"policy": {"max_cost_usd": false}}', 400),
        ("POST", "/v2/recommend", b'{"policy": {"max_startup_ms": "100"}}', 400),
        ("POST", "/v2/sessions", b'{"requirements": {"memory_mb": true}}', 400),
        ("POST", "/v2/sessions", b'{"requirements": "python"}', 400),
        # rules between fields, and this deployment's ranges
        ("POST", "/v2/recommend", b'{"policy": {"mode": "pinned"}}', 400),
        ("POST", "/v2/sessions", b'{"session_type": "transcript", "compute": {"provider": "local"}}', 400),
        ("POST", "/v2/sessions", b'{"compute": {"provider": 5}}', 400),
        ("POST", "/v2/sessions", b'{"compute": {"elsewhere": "x"}}', 400),
        ("POST", "/v2/recommend", b'{"requirements": {"memory_mb": 100000000}}', 400),
        ("GET", "/v2/sessions?cursor=garbage", None, 400),
    ]
    for method, path, raw, expected in cases:
        status, body, text, headers = await api.call(method, path, raw=raw, key=key)
        assert status == expected, (path, raw, status, text)
        assert headers["Content-Type"].startswith("application/json") and body["code"] and body["message"], text


async def test_oversized_body_is_413(api):
    key = await api.login()
    big = b'{"session_name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    status, body, text, _ = await api.call("POST", "/v2/sessions", raw=big, key=key)
    assert status == 413 and body["code"] == 8, text


async def test_error_details_survive_as_json(api):
    key = await api.login()
    status, body, _, _ = await api.call("POST", "/v2/sessions", {"requirements": {"runtime": "cobol"}}, key=key)
    assert status == 400
    detail = body["details"][0]
    assert detail["@type"].endswith("google.rpc.BadRequest")
    assert detail["field_violations"][0]["field"] == "requirements.runtime"


async def test_gateway_paths_are_the_same_rpcs(api):
    key = await api.login()
    status, created, _, _ = await api.call("POST", "/gateway/sessions", {"session_type": "transcript"}, key=key)
    assert status == 200
    sid = created["session_id"]
    assert (await api.call("POST", f"/gateway/sessions/{sid}/input", {"content": "hi"}, key=key))[0] == 200
    status, got, _, _ = await api.call("GET", f"/gateway/sessions/{sid}", key=key)
    assert got["transcript"][0]["content"] == "hi"
    assert (await api.call("DELETE", f"/gateway/sessions/{sid}", key=key))[1]["status"] == "terminated"


async def test_json_fields_come_in_field_number_order(api):
    """As Envoy's transcoder prints them, defaults included."""
    key = await api.login()
    _, s, text, _ = await api.call("POST", "/v2/sessions", {"session_type": "transcript", "session_name": "o"}, key=key)
    keys = list(s)
    assert keys[:5] == ["session_id", "session_name", "status", "state", "provider"], keys
    metrics = list(s["metrics"])
    assert metrics.index("total_exec_count") < metrics.index("engagement_label")


async def _raw(base: str, request: bytes) -> tuple[int, dict, bytes]:
    """One request as raw bytes (what an HTTP client library would refuse to send)."""
    import asyncio
    import json

    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(body)


async def test_what_the_http_server_answers_by_itself_is_json_too(api):
    key = await api.login()
    auth = f"Authorization: Bearer {key}\r\n".encode()
    cases = [
        (b"GET /v2/sessions/abc%0Adef HTTP/1.1\r\nHost: x\r\n" + auth + b"Connection: close\r\n\r\n", 404),
        (b"GET /v2/sessions/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        (b"GET /v2/sessions HTTP/1.1\r\nHost: x\r\nBad Header: \x01\r\n\r\n", 400),
        (b"GET /v2/auth/account HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ck_\xe9\r\nConnection: close\r\n\r\n", 401),
    ]
    for request, expected in cases:
        status, headers, body = await _raw(api.base, request)
        assert status == expected and headers["Content-Type"].startswith("application/json"), (request[:60], body)
        assert body["message"] and "aaaa" not in body["message"]
    for method, path, allow in (("PUT", "/v2/sessions", "GET, POST"), ("POST", "/", "GET"),
                                ("DELETE", "/v2/docs", "GET"), ("PATCH", "/v2/sessions/abc/run", "POST")):
        status, body, text, headers = await api.call(method, path, key=key)
        assert status == 405 and headers["Allow"] == allow and body["code"] == 12, (method, path, text)


async def test_an_unreachable_service_is_a_retryable_503_without_its_address(api, monkeypatch):
    from cli.dev import free_port
    from servicekit import peers

    dead = f"127.0.0.1:{free_port()}"  # nothing listens there
    key = await api.login()
    saved = peers._channels.pop("router", None)
    monkeypatch.setenv("CERVER_ROUTER_ADDR", dead)
    try:
        status, body, text, headers = await api.call("POST", "/gateway/recommend", {"task": "x"}, key=key)
    finally:
        peers._channels.pop("router", None)
        if saved is not None:
            peers._channels["router"] = saved
    assert status == 503 and headers["Retry-After"] == "1", text
    assert dead.split(":")[1] not in text and "127.0.0.1" not in text and "ipv4" not in text, text
