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
    assert docs["components"]["schemas"]["cerver.v2.Session"]["properties"]["transcript"]["type"] == "array"


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
        ("PATCH", "/v2/sessions", None, 404),
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


async def test_unimplemented_rpc_is_501(api):
    key = await api.login()
    _, s, _, _ = await api.call("POST", "/v2/sessions", {"session_type": "transcript"}, key=key)
    status, body, _, _ = await api.call("POST", f"/v2/sessions/{s['session_id']}/run-llm",
                                        {"model": "m", "input": "x"}, key=key)
    assert status == 501 and body["code"] == 12


async def test_json_fields_come_in_field_number_order(api):
    """As Envoy's transcoder prints them, defaults included."""
    key = await api.login()
    _, s, text, _ = await api.call("POST", "/v2/sessions", {"session_type": "transcript", "session_name": "o"}, key=key)
    keys = list(s)
    assert keys[:5] == ["session_id", "session_name", "status", "state", "provider"], keys
    metrics = list(s["metrics"])
    assert metrics.index("total_exec_count") < metrics.index("engagement_label")
