"""Envoy's transcoder, as golden request → answer cases, held against the
embedded edge: no Envoy binary can run here, so what Envoy does (with
gateway/envoy.yaml's options) is written down from its documentation and
source, case by case, and the embedded edge must answer the same.

Sources: grpc-httpjson-transcoding (path_matcher.h: how a path and a query
become bindings; percent_encoding.h: what is decoded), Envoy's
GrpcJsonTranscoder options (envoy.yaml sets reject_unknown_query_parameters
and reject_binding_body_field_collisions; url_unescape_spec and
query_param_unescape_plus at their defaults), protobuf's C++ JSON printer
(json/internal/writer.cc: escapes; io::SimpleDtoa: doubles).

Where Envoy's default is worse for users, Envoy is configured (or the
services answer) so that both edges behave as here: a binding that disagrees
with the body is refused rather than silently overridden; a stream that
fails once it has begun ends with an error event rather than a trailer an
HTTP/1.1 client never sees."""
import json
import pathlib
import re

import pytest
import yaml
from yarl import URL

import gateway
from servicekit import config


async def raw(api, method: str, path: str, body=None, key: str | None = None) -> tuple[int, str]:
    """A request with its path and query exactly as written (no client-side
    re-encoding), as a client that sends %2F or + does."""
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    async with api.http.request(method, URL(api.base + path, encoded=True), headers=headers,
                                data=json.dumps(body) if body is not None else None) as r:
        return r.status, await r.text()


async def _session(api, key, **fields) -> dict:
    status, text = await raw(api, "POST", "/v2/sessions", {"requirements": {"runtime": "shell"}, **fields}, key)
    assert status == 200, text
    return json.loads(text)


async def test_query_parameters_bind_on_body_star_routes_and_must_agree_with_the_body(api):
    """path_matcher.h binds the query on every route, body "*" included; a
    field both sets must agree (reject_binding_body_field_collisions)."""
    key = await api.login()
    status, text = await raw(api, "POST", "/v2/sessions?session_name=from-query",
                             {"session_type": "transcript"}, key)
    assert status == 200 and json.loads(text)["session_name"] == "from-query", text
    status, text = await raw(api, "POST", "/v2/sessions?session_name=a", {"session_name": "b"}, key)
    assert status == 400 and json.loads(text)["code"] == 3 and "conflicts" in text, text
    status, text = await raw(api, "POST", "/v2/sessions?session_name=same",
                             {"session_name": "same", "session_type": "transcript"}, key)
    assert status == 200, text
    # A path variable is a binding too: the body may not name another session.
    sid = json.loads(text)["session_id"]
    other = (await _session(api, key, session_type="transcript"))["session_id"]
    status, text = await raw(api, "POST", f"/v2/sessions/{sid}/transcript",
                             {"session_id": other, "entries": [{"role": "user", "content": "x"}]}, key)
    assert status == 400 and json.loads(text)["code"] == 3, text


async def test_unknown_query_parameters_are_refused_and_pairs_without_a_value_skipped(api):
    key = await api.login()
    for path in ("/v2/sessions?bogus=1", "/v2/sessions?limit=1&session.nope=2"):
        status, text = await raw(api, "GET", path, key=key)
        assert status == 400 and json.loads(text)["code"] == 3, (path, text)
    status, text = await raw(api, "POST", "/v2/sessions?bogus=1", {"session_type": "transcript"}, key)
    assert status == 400, text  # on a body "*" route too
    # `flag` has no "=": path_matcher.h skips it; so is "=x" (no name).
    status, text = await raw(api, "GET", "/v2/sessions?flag&=x&limit=1", key=key)
    assert status == 200, text


async def test_a_plus_in_a_query_is_a_plus_and_escapes_are_decoded(api):
    """query_param_unescape_plus is false: + is not a space; %XX is decoded."""
    key = await api.login()
    await _session(api, key, session_type="transcript", session_name="a+b c")
    for query in ("name=a+b%20c", "name=a%2Bb%20c"):
        status, text = await raw(api, "GET", f"/v2/sessions?{query}", key=key)
        names = [s["session_name"] for s in json.loads(text)["sessions"]]
        assert status == 200 and names == ["a+b c"], (query, text)
    status, text = await raw(api, "GET", "/v2/sessions?name=a+b+c", key=key)
    assert json.loads(text)["sessions"] == [], text


async def test_query_names_may_be_json_names(api):
    """The transcoder's type resolver finds a field by its proto name or its
    JSON (lowerCamel) name."""
    by_proto = await raw(api, "GET", "/v2/auth/device?device_code=nope")
    by_json = await raw(api, "GET", "/v2/auth/device?deviceCode=nope")
    assert by_proto == by_json and by_proto[0] != 400, (by_proto, by_json)


async def test_an_escaped_slash_stays_inside_its_path_variable(api):
    """One segment's variable is fully decoded (%2F becomes /) after the
    path is split on its literal slashes: /sessions/X%2Fmetrics is
    GetSession of "X/metrics", never GetMetrics of X."""
    key = await api.login()
    sid = (await _session(api, key, session_type="transcript"))["session_id"]
    status, text = await raw(api, "GET", f"/v2/sessions/{sid}%2Fmetrics", key=key)
    assert status in (400, 404) and f"{sid}/metrics" in json.loads(text)["message"], text
    status, text = await raw(api, "GET", f"/v2/sessions/{sid}/metrics", key=key)
    assert status == 200, text


async def test_doubles_and_strings_print_as_protobufs_cpp_printer_prints_them(api):
    key = await api.login()
    status, text = await raw(api, "POST", "/v2/sessions",
                             {"session_type": "transcript", "requirements": {"runtime": "shell", "cpus": 2}}, key)
    assert status == 200 and re.search(r'"cpus":2[,}]', text), text  # SimpleDtoa: 2, not 2.0
    status, text = await raw(api, "POST", "/v2/sessions", {"session_type": "transcript",
                             "requirements": {"runtime": "shell", "cpus": 0.7999999999999999}}, key)
    assert re.search(r'"cpus":0\.79999999999999993[,}]', text), text  # 15 digits do not read back: 17
    # Escapes: <, > and U+2028 as \u escapes (writer.cc), / and & as they are.
    sid = (await _session(api, key))["session_id"]
    status, text = await raw(api, "POST", f"/v2/sessions/{sid}/run",
                             {"code": r"printf '<b>&/\342\200\250\177'"}, key)
    assert status == 200 and r'"stdout":"\u003cb\u003e&/\u2028\u007f"' in text, text
    assert json.loads(text)["result"]["stdout"] == "<b>&/\u2028\x7f"


async def test_an_answer_over_the_response_limit_is_a_500_status(api, monkeypatch):
    """max_response_body_size: a body past it provokes a 500 (a JSON Status
    through local_reply_config)."""
    key = await api.login()
    sid = (await _session(api, key, session_type="transcript"))["session_id"]
    monkeypatch.setattr(config, "MAX_JSON_RESPONSE_BYTES", 200)
    status, text = await raw(api, "GET", f"/v2/sessions/{sid}", key=key)
    assert status == 500 and json.loads(text)["code"] == 13, text
    envoy = yaml.safe_load((pathlib.Path(gateway.__file__).parent / "envoy.yaml").read_text())
    hcm = envoy["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    transcoder = next(f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.grpc_json_transcoder")
    limits = transcoder["typed_config"]
    monkeypatch.undo()
    assert limits["max_response_body_size"] == config.MAX_JSON_RESPONSE_BYTES
    assert limits["max_request_body_size"] == config.MAX_REQUEST_BODY_BYTES


async def test_a_stream_that_fails_once_begun_ends_with_an_error_event(api, vendors):
    """The vendor fails mid-reply: the HTTP status (200) is long sent, so the
    failure comes as the stream's last event, a google.rpc.Status, and the
    stream ends cleanly, as Envoy relays it (no trailer to lose)."""
    key = await api.login()
    sid = (await _session(api, key, session_type="transcript", harness="claude"))["session_id"]
    vendors["anthropic"].overloaded_after = 2
    async with api.http.post(f"{api.base}/v2/sessions/{sid}/run-llm/stream",
                             json={"model": "claude-sonnet-4-5", "input": "one two three four"},
                             headers={"Authorization": f"Bearer {key}"}) as r:
        assert r.status == 200
        text = await r.text()
    events = [json.loads(line[len("data: "):]) for line in text.split("\n\n") if line.startswith("data: ")]
    assert "event:" not in text and [e["type"] for e in events] == ["delta", "delta", "error"], text
    error = events[-1]["error"]
    assert error["code"] == 14 and "Overloaded" in error["message"], error
    # The turn is not in the transcript as if it had ended.
    status, text = await raw(api, "GET", f"/v2/sessions/{sid}?full=1", key=key)
    assert "echo:" not in text


@pytest.mark.parametrize("path", ["/v2/sessions/x/run/stream", "/v2/sessions/x/run-llm/stream",
                                  "/v2/sandbox/x/run/stream"])
def test_every_streamed_event_can_carry_its_streams_failure(path):
    """The contract's side: each SSE stream's event has an `error` (a
    google.rpc.Status) the services end a failed stream with."""
    from gateway import routes

    pool, _ = routes.load(gateway.DESCRIPTOR_SET)
    route, _ = routes.find(routes.build(pool, gateway.BACKENDS), "POST", path)
    assert route.server_streaming
    error = route.method.output_type.fields_by_name["error"]
    assert error.message_type.full_name == "google.rpc.Status"
