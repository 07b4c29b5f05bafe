"""run-llm: model turns through the vendors' official SDKs against servers
that follow each vendor's API; the transcript is the conversation, the
turn lands in it with usage and cost, keys come from the secrets backend
and go nowhere else."""
import json

import pytest

from tests.fakes.models import KEYS

async def _session(api, key, **fields) -> str:
    status, s, text, _ = await api.call("POST", "/v2/sessions", {"session_type": "transcript", **fields}, key=key)
    assert status == 200, text
    return s["session_id"]


async def test_turns_on_three_vendors_share_one_transcript(api, vendors):
    key = await api.login()
    sid = await _session(api, key, harness="claude")
    await api.call("POST", f"/v2/sessions/{sid}/transcript", {"entries": [
        {"role": "system", "kind": "text", "content": "You review database migrations."},
        {"role": "user", "kind": "text", "content": "We add a column."}]}, key=key)
    status, turn, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run-llm",
                                           {"model": "claude-sonnet-4-5", "input": "Review this migration"}, key=key)
    assert status == 200, text
    assert turn["output"] == "echo: We add a column.\n\nReview this migration" and turn["harness"] == "anthropic"
    usage = turn["usage"]
    assert usage["output_tokens"] == 7 and usage["input_tokens"] > 0 and turn["stop_reason"] == "end_turn"
    assert turn["cost_usd"] == pytest.approx((usage["input_tokens"] * 3 + usage["output_tokens"] * 15) / 1e6)
    sent = vendors["anthropic"].requests[-1]
    assert sent["model"] == "claude-sonnet-4-5" and sent["system"] == "You review database migrations."
    # The same session, the next turn on another vendor: the conversation goes on.
    status, second, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run-llm",
                                             {"model": "gpt-5", "input": "Anything risky?", "max_tokens": 50},
                                             key=key)
    assert status == 200 and second["harness"] == "openai" and second["stop_reason"] == "stop", text
    chat = vendors["openai"].requests[-1]
    assert [m["role"] for m in chat["messages"]] == ["system", "user", "assistant", "user"]
    assert chat["messages"][2]["content"] == turn["output"] and chat["max_completion_tokens"] == 50
    status, third, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run-llm",
                                            {"model": "grok-4", "input": "Summarize"}, key=key)
    assert status == 200 and third["harness"] == "xai" and third["output"] == "echo: Summarize", text
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}?tail=6", key=key)
    entries = s["transcript"]
    assert [(e["role"], e["content"]) for e in entries[-2:]] == [("user", "Summarize"), ("assistant", "echo: Summarize")]
    assert entries[-1]["metadata"]["model"] == "grok-4" and entries[-1]["metadata"]["cost_usd"] == third["cost_usd"]
    assert third["seq"] == entries[-1]["seq"]
    _, m, _, _ = await api.call("GET", f"/v2/sessions/{sid}/metrics", key=key)
    metrics = m["metrics"]
    assert metrics["llm_turn_count"] == 3
    assert int(metrics["llm_output_tokens"]) == sum(t["usage"]["output_tokens"] for t in (turn, second, third))
    assert metrics["llm_cost_usd"] == pytest.approx(turn["cost_usd"] + second["cost_usd"] + third["cost_usd"], abs=1e-6)
    assert metrics["cost_estimate_usd"] >= metrics["llm_cost_usd"] > 0
    assert metrics["last_llm_latency_ms"] == third["duration_ms"]
    assert metrics["average_llm_latency_ms"] == pytest.approx(
        (turn["duration_ms"] + second["duration_ms"] + third["duration_ms"]) / 3, abs=0.01)
    # No key is anywhere in the session.
    _, full, raw, _ = await api.call("GET", f"/v2/sessions/{sid}?full=1", key=key)
    assert not any(k in raw for k in KEYS.values())


async def test_a_turn_streams_its_reply(api, vendors):
    key = await api.login()
    sid = await _session(api, key)
    async with api.http.post(f"{api.base}/v2/sessions/{sid}/run-llm/stream",
                             json={"model": "claude-haiku-4-5", "input": "one two three"},
                             headers={"Authorization": f"Bearer {key}"}) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "text/event-stream"
        events = [json.loads(line[6:]) for line in (await r.text()).splitlines() if line.startswith("data: ")]
    deltas = [e["text"] for e in events if e["type"] == "delta"]
    assert len(deltas) == 4 and "".join(deltas) == "echo: one two three"
    assert events[-1]["type"] == "done" and events[-1]["turn"]["output"] == "echo: one two three"


async def test_vendor_failures_are_the_contracts_and_never_show_the_key(api, vendors, monkeypatch):
    key = await api.login()
    sid = await _session(api, key)
    url = f"/v2/sessions/{sid}/run-llm"
    # Rate limited twice: the SDK retries (honouring retry-after), the turn lands.
    vendors["openai"].rate_limited = 2
    status, turn, text, _ = await api.call("POST", url, {"model": "gpt-5-mini", "input": "hi"}, key=key)
    assert status == 200 and turn["output"] == "echo: hi", text
    vendors["openai"].rate_limited = 10
    status, body, _, _ = await api.call("POST", url, {"model": "gpt-5-mini", "input": "hi"}, key=key)
    assert status == 429 and body["code"] == 8 and "rate limiting" in body["message"]
    vendors["openai"].rate_limited = 0
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-wrong-key-000")
    status, body, _, _ = await api.call("POST", url, {"model": "claude-opus-4-1", "input": "hi"}, key=key)
    assert status == 400 and "anthropic refused ANTHROPIC_API_KEY" in body["message"]
    assert "sk-ant-wrong" not in json.dumps(body)
    monkeypatch.delenv("XAI_API_KEY")
    status, body, _, _ = await api.call("POST", url, {"model": "grok-3-mini", "input": "hi"}, key=key)
    assert status == 400 and body["code"] == 9 and "needs XAI_API_KEY" in body["message"], body
    monkeypatch.setenv("CERVER_LLM_TIMEOUT_S", "0.3")
    vendors["openai"].delay_s = 1.0
    status, body, _, _ = await api.call("POST", url, {"model": "gpt-5", "input": "slow"}, key=key)
    assert status == 504 and body["code"] == 4, body
    vendors["openai"].delay_s = 0
    status, body, _, _ = await api.call("POST", url, {"model": "llama-3", "input": "hi"}, key=key)
    assert status == 400 and "no harness for model" in body["message"]
    # Failed turns left nothing in the transcript: only the one that landed.
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}?full=1", key=key)
    assert [e["content"] for e in s["transcript"]] == ["hi", "echo: hi"]
