"""Schemathesis, every check on, against /v2/docs of a live `cerver dev`
(bounded: a fixed seed, 10 examples an operation, a time limit). The API must
answer no request with a server error, every error as JSON, nothing that
breaks its own document, accept what the document calls valid and refuse
what it does not."""
import json
import os
import pathlib
import re
import subprocess
import sys
import urllib.request

import pytest

from cli.dev import free_port
from tests.test_dev_stack import start_stack, stop_stack

ST = pathlib.Path(sys.executable).parent / "st"
# Every check schemathesis has; any finding fails the test.
CHECKS = {"ST101": "server error", "ST102": "server error on an undeclared content type",
             "ST103": "undocumented status code", "ST104": "missing Content-Type", "ST105": "undocumented Content-Type",
             "ST106": "malformed media type", "ST107": "missing required response header",
             "ST108": "response violates the schema", "ST109": "JSON deserialization error",
             "ST110": "content deserialization error", "ST111": "unknown discriminator value",
             "ST201": "schema-violating request accepted", "ST202": "schema-valid request rejected",
             "ST203": "missing required header accepted", "ST204": "wrong response to an undeclared method",
             "ST205": "Allow header mismatch", "ST301": "deleted resource still available",
             "ST401": "authentication not enforced"}


def test_schemathesis_finds_no_server_error_and_nothing_breaking_the_document(tmp_path, monkeypatch):
    # One key for a few thousand requests, all from 127.0.0.1.
    monkeypatch.setenv("CERVER_RATE_KEY", "1000000/minute")
    monkeypatch.setenv("CERVER_RATE_LOGIN", "1000/minute")
    # Valid stress tests sample live sandboxes; answer "running" at once
    # rather than wait for each.
    monkeypatch.setenv("CERVER_STRESS_WAIT_S", "0")
    port = free_port()
    stack_log = tmp_path / "stack.log"
    stack = start_stack(tmp_path, port, stack_log)
    base = f"http://127.0.0.1:{port}"
    try:
        login = urllib.request.Request(base + "/v2/auth/login", data=b'{"email": "fuzz@example.com"}',
                                       headers={"Content-Type": "application/json"}, method="POST")
        key = json.loads(urllib.request.urlopen(login, timeout=30).read())["api_key"]
        report, cases = tmp_path / "report.json", tmp_path / "cases"
        config = tmp_path / "schemathesis.toml"
        # Schema-violating data may also be refused as too large (413): a
        # body over the edge's 1 MiB, as Envoy refuses it.
        config.write_text('[checks.negative_data_rejection]\nexpected-statuses = ['
                          '"400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]\n')
        run = subprocess.run(
            [str(ST), "--config-file", str(config), "run", f"{base}/v2/docs", "-H", f"Authorization: Bearer {key}", "--seed", "1",
             "--max-examples", "10", "--workers", "2", "--request-timeout", "30", "--max-failures", "1000",
             # run-llm needs a model vendor's key, which this stack has not: each valid
             # call is a 400 naming the key to set (tests/test_llm.py plays it).
             # A watch of a live session is an unending stream by design
             # (tests/test_transcript.py plays it and its bad input).
             "--exclude-path-regex", "run-llm|/watch$", "--report", "json,ndjson", "--report-json-path", str(report),
             "--report-ndjson-path", str(cases)],
            capture_output=True, text=True, timeout=600, cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"})
        assert report.exists(), run.stdout[-3000:] + run.stderr[-2000:]
        found = json.loads(report.read_text())
        assert found["complete"] and found["test_cases"], found.get("stop_reason")
        failures = {f["code"]: f for f in found["failures"]}
        print("schemathesis:", {code: (f["title"], f["count"], f["operations"][:5]) for code, f in failures.items()})
        mislabelled = _mislabelled_positives(cases)
        if mislabelled:
            print("not counted (a case marked valid whose body schemathesis generated as invalid):", mislabelled)
            if "ST202" in failures and set(failures["ST202"]["operations"]) <= mislabelled:
                del failures["ST202"]
        if "ST301" in failures and _only_soft_deletes(cases):
            # DELETE /v2/sessions/:id terminates a session, a soft delete
            # (spec/000): its transcript stays readable, as sessions are memory.
            print("not counted: a terminated session is still readable (soft delete, spec/000)")
            del failures["ST301"]
        broken = failures
        if broken:
            print(run.stdout)  # every failing case, with its curl reproduction
            print("".join(line for line in stack_log.read_text().splitlines(keepends=True)
                          if "ERROR" in line or "Traceback" in line or line.startswith(("  ", "sqlalchemy", "grpc"))))
        assert not broken, {code: (f["title"], f["operations"]) for code, f in broken.items()}
    finally:
        stop_stack(stack)


def _mislabelled_positives(ndjson) -> set[str]:
    """Operations where every rejected "valid" case is a schemathesis 4.32
    mislabel: its coverage phase marks a case positive for a path
    parameter's sake while the body it sends is one it made invalid."""
    rejected, genuine = set(), set()
    for line in ndjson.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if not finished:
            continue
        recorder = finished["recorder"]
        for case_id, checks in recorder.get("checks", {}).items():
            if not any(c["name"] == "positive_data_acceptance" and c["status"] == "failure" for c in checks):
                continue
            meta = recorder["cases"][case_id]["value"]["meta"]
            label = recorder["label"]
            if any(c.get("mode") == "negative" for c in meta.get("components", {}).values()):
                rejected.add(label)
            else:
                genuine.add(label)
    return rejected - genuine


def _only_soft_deletes(ndjson) -> bool:
    """Whether every "deleted resource still available" finding deleted a
    session, which DELETE only terminates."""
    found = []
    for line in ndjson.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        for checks in (finished or {}).get("recorder", {}).get("checks", {}).values():
            for check in checks:
                if check["name"] == "use_after_free" and check["status"] == "failure":
                    found.append(check["failure_info"]["failure"]["message"])
    return bool(found) and all(re.search(r"deleted with `DELETE /(v2|gateway)/sessions/[^/`]+`", m) for m in found)


@pytest.fixture(autouse=True)
def _needs_schemathesis():
    if not ST.exists():
        pytest.fail("schemathesis is a test dependency: make install")
