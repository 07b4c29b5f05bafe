"""Sessions as memory: transcript-only sessions, appends, reads, listing."""
import asyncio
import json

from tests.conftest import running_stack


async def _transcript_session(api, key, **extra):
    status, s, text, _ = await api.call("POST", "/v2/sessions", {"session_type": "transcript", **extra}, key=key)
    assert status == 200, text
    return s


async def test_transcript_only_sessions_both_ways(api):
    key = await api.login()
    a = await _transcript_session(api, key, harness="claude", session_name="chat")
    status, b, text, _ = await api.call("POST", "/v2/sessions", {"compute": None, "harness": "openai"}, key=key)
    assert status == 200, text
    for s, harness in ((a, "claude"), (b, "openai")):
        assert s["provider"] == "none" and "compute_id" not in s and "sandbox_id" not in s
        assert s["harness"] == harness and s["session_type"] == "transcript" and s["state"] == "idle"
    status, _, _, _ = await api.call("POST", f"/v2/sessions/{a['session_id']}/run", {"code": "echo"}, key=key)
    assert status == 409
    status, _, _, _ = await api.call("POST", "/v2/sessions", {"compute": 7}, key=key)
    assert status == 400
    # spec/004's harnesses only; the error lists them.
    status, body, _, _ = await api.call("POST", "/v2/sessions", {"compute": None, "harness": "gemini"}, key=key)
    assert status == 400 and "claude, codex, grok, anthropic, openai, xai" in body["message"], body


async def test_append_and_read_tail_since_full(api):
    key = await api.login()
    sid = (await _transcript_session(api, key))["session_id"]
    entries = [{"role": "user" if i % 2 == 0 else "assistant", "kind": "text", "content": f"m{i}",
                "at": f"2026-01-01T00:00:{i:02d}Z", "metadata": {"i": i}} for i in range(10)]
    status, appended, _, _ = await api.call("POST", f"/v2/sessions/{sid}/transcript", {"entries": entries}, key=key)
    assert status == 200 and appended["seqs"] == list(range(1, 11))
    status, got, _, _ = await api.call("POST", f"/v2/sessions/{sid}/input", {"content": "last", "role": "user"}, key=key)
    assert got["seqs"] == [11]

    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}?tail=3", key=key)
    assert [e["content"] for e in s["transcript"]] == ["m8", "m9", "last"] and s["transcript_count"] == 11
    assert s["transcript"][0]["seq"] == 9 and s["transcript"][0]["metadata"] == {"i": 8}
    assert s["transcript"][0]["at"] == "2026-01-01T00:00:08Z"
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}?since=7", key=key)
    assert [e["seq"] for e in s["transcript"]] == [8, 9, 10, 11]
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}?full=1", key=key)
    assert len(s["transcript"]) == 11
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}", key=key)
    assert len(s["transcript"]) == 11 and s["events"][0]["type"] == "created"

    for bad in ({"entries": []}, {"entries": [{"content": ""}]}, {"entries": [{"content": "x", "role": "robot"}]}):
        assert (await api.call("POST", f"/v2/sessions/{sid}/transcript", bad, key=key))[0] == 400
    assert (await api.call("GET", f"/v2/sessions/{sid}?tail=-1", key=key))[0] == 400


async def test_concurrent_appends_lose_and_duplicate_nothing(api):
    key = await api.login()
    sid = (await _transcript_session(api, key))["session_id"]

    async def writer(w):
        for i in range(5):
            body = {"entries": [{"content": f"w{w}-{i}-a"}, {"content": f"w{w}-{i}-b"}]}
            status, _, text, _ = await api.call("POST", f"/v2/sessions/{sid}/transcript", body, key=key)
            assert status == 200, text

    await asyncio.gather(*(writer(w) for w in range(12)))
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}?full=1", key=key)
    seqs = [e["seq"] for e in s["transcript"]]
    contents = [e["content"] for e in s["transcript"]]
    assert seqs == list(range(1, 121)) and len(set(contents)) == 120
    # A batch's entries stay together and in order.
    for i in range(0, 120, 2):
        assert contents[i].endswith("-a") and contents[i + 1] == contents[i][:-1] + "b"


async def test_foreign_and_unknown_sessions_are_404(api):
    mine, other = await api.login(), await api.login()
    sid = (await _transcript_session(api, mine))["session_id"]
    for method, path, body in (("GET", f"/v2/sessions/{sid}", None), ("POST", f"/v2/sessions/{sid}/input", {"content": "x"}),
                               ("DELETE", f"/v2/sessions/{sid}", None), ("GET", f"/v2/sessions/{sid}/metrics", None),
                               ("POST", f"/v2/sessions/{sid}/run", {"code": "id"}),
                               ("GET", "/v2/sessions/00000000-0000-0000-0000-000000000000", None)):
        status, b, text, _ = await api.call(method, path, body, key=other)
        assert status == 404, (method, path, text)


async def test_list_pages_newest_first_with_filters(api):
    key = await api.login()
    ids = [(await _transcript_session(api, key, session_name=f"n{i}"))["session_id"] for i in range(7)]
    seen, cursor = [], ""
    while True:
        status, page, text, _ = await api.call("GET", f"/v2/sessions?limit=3&cursor={cursor}", key=key)
        assert status == 200, text
        seen += [s["session_id"] for s in page["sessions"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    _, named, _, _ = await api.call("GET", "/v2/sessions?name=n3", key=key)
    assert [s["session_id"] for s in named["sessions"]] == [ids[3]]
    await api.call("DELETE", f"/v2/sessions/{ids[0]}", key=key)
    _, ended, _, _ = await api.call("GET", "/v2/sessions?state=ended", key=key)
    assert [s["session_id"] for s in ended["sessions"]] == [ids[0]]
    _, idle, _, _ = await api.call("GET", "/v2/sessions?state=idle&limit=50", key=key)
    assert ids[0] not in {s["session_id"] for s in idle["sessions"]} and len(idle["sessions"]) == 6
    _, terminated, _, _ = await api.call("GET", "/v2/sessions?status=terminated", key=key)
    assert [s["session_id"] for s in terminated["sessions"]] == [ids[0]]
    assert (await api.call("GET", "/v2/sessions?state=sleepy", key=key))[0] == 400
    assert (await api.call("GET", "/v2/sessions?cursor=garbage", key=key))[0] == 400


async def test_terminate_is_soft(api):
    key = await api.login()
    sid = (await _transcript_session(api, key))["session_id"]
    await api.call("POST", f"/v2/sessions/{sid}/input", {"content": "remember me"}, key=key)
    status, ended, _, _ = await api.call("DELETE", f"/v2/sessions/{sid}", key=key)
    assert status == 200 and ended["status"] == "terminated" and ended["end_reason"] == "terminated_by_user"
    _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}", key=key)
    assert s["transcript"][0]["content"] == "remember me" and s["state"] == "ended"
    assert (await api.call("POST", f"/v2/sessions/{sid}/input", {"content": "x"}, key=key))[0] == 409


async def test_tail_reads_walk_the_index_not_the_transcript(stack):
    """The newest N entries come from the (session_id, seq) index: O(N)."""
    from sqlalchemy import text

    store = stack.hosts["sessions"].handlers[0].sessions.store
    tail = ("SELECT seq FROM sessions_transcript WHERE session_id = 's' ORDER BY seq DESC LIMIT 5")
    async with store.db.engine.connect() as conn:
        if store.db.is_sqlite:
            plan = " ".join(str(r) for r in (await conn.execute(text("EXPLAIN QUERY PLAN " + tail))).all())
            assert "INDEX" in plan and "TEMP B-TREE" not in plan, plan
        else:
            # A tiny table would rather be scanned: ask for the plan a big one gets.
            await conn.execute(text("SET enable_seqscan = off"))
            await conn.execute(text("SET enable_bitmapscan = off"))
            plan = " ".join(r[0] for r in (await conn.execute(text("EXPLAIN " + tail))).all())
            assert "Scan Backward using uq_transcript_session_seq" in plan and "Sort" not in plan, plan


async def test_appends_with_an_idempotency_key_are_not_duplicated(api):
    import asyncio

    key, other = await api.login(), await api.login()
    _, s, _, _ = await api.call("POST", "/v2/sessions", {"session_type": "transcript"}, key=key)
    sid = s["session_id"]
    body = {"role": "user", "content": "only once"}
    first = await api.call("POST", f"/v2/sessions/{sid}/input", body, key=key, headers={"Idempotency-Key": "k-1"})
    # The client lost the answer and retries: same key, same body.
    again = await api.call("POST", f"/v2/sessions/{sid}/input", body, key=key, headers={"Idempotency-Key": "k-1"})
    assert first[0] == again[0] == 200 and first[1]["seqs"] == again[1]["seqs"], (first[2], again[2])
    # Racing retries of a batch append too.
    batch = {"entries": [{"content": "a"}, {"content": "b"}]}
    results = await asyncio.gather(*(api.call("POST", f"/v2/sessions/{sid}/transcript", batch, key=key,
                                              headers={"Idempotency-Key": "k-2"}) for _ in range(5)))
    assert all(r[0] == 200 for r in results) and len({tuple(r[1]["seqs"]) for r in results}) == 1, results
    _, full, _, _ = await api.call("GET", f"/v2/sessions/{sid}?full=1", key=key)
    assert [e["content"] for e in full["transcript"]] == ["only once", "a", "b"]
    # The same key for another body is a conflict; a bad key is a 400.
    status, err, text, _ = await api.call("POST", f"/v2/sessions/{sid}/input", {"content": "else"}, key=key,
                                          headers={"Idempotency-Key": "k-1"})
    assert status == 409 and "Idempotency-Key" in err["message"], text
    status, _, text, _ = await api.call("POST", f"/v2/sessions/{sid}/input", body, key=key,
                                        headers={"Idempotency-Key": "has space"})
    assert status == 400, text
    # Another account learns nothing from a key: the session is not theirs.
    status, _, text, _ = await api.call("POST", f"/v2/sessions/{sid}/input", body, key=other,
                                        headers={"Idempotency-Key": "k-1"})
    assert status == 404, text


async def test_transcripts_of_any_size_stay_readable(api):
    """100 entries of 1 MB: the summary (tail 50) and ?full=1 (100 MB) are
    answered whole; no message limit between the services is hit."""
    import time

    key = await api.login()
    _, s, _, _ = await api.call("POST", "/v2/sessions", {"session_type": "transcript"}, key=key)
    sid = s["session_id"]
    started = time.monotonic()
    for i in range(100):
        status, _, text, _ = await api.call("POST", f"/v2/sessions/{sid}/input",
                                            {"content": f"{i:03d}" + "x" * 999_997}, key=key)
        assert status == 200, text[:300]
    status, summary, text, _ = await api.call("GET", f"/v2/sessions/{sid}", key=key)
    assert status == 200 and len(summary["transcript"]) == 50, text[:300]
    status, full, text, _ = await api.call("GET", f"/v2/sessions/{sid}?full=1", key=key)
    assert status == 200, text[:300]
    contents = [e["content"] for e in full["transcript"]]
    assert len(contents) == 100 and all(c.startswith(f"{i:03d}") and len(c) == 1_000_000
                                        for i, c in enumerate(contents))
    assert time.monotonic() - started < 300


async def test_transcripts_are_searchable_within_the_account(api):
    """Full-text search (FTS5 or tsvector), in step with every append:
    every word must match, newest first, paged, with snippets; another
    account's transcripts never match."""
    key, other = await api.login(), await api.login()
    _, s, _, _ = await api.call("POST", "/v2/sessions", {"session_name": "search-a", "session_type": "transcript"},
                                key=key)
    sid = s["session_id"]
    entries = [{"role": "user", "kind": "text", "content": f"deploy the zephyrine service, attempt {i}"}
               for i in range(5)] + [{"role": "assistant", "kind": "text", "content": "Zephyrine: rollback done"}]
    assert (await api.call("POST", f"/v2/sessions/{sid}/transcript", {"entries": entries}, key=key))[0] == 200
    _, theirs, _, _ = await api.call("POST", "/v2/sessions", {"session_type": "transcript"}, key=other)
    await api.call("POST", f"/v2/sessions/{theirs['session_id']}/transcript",
                   {"entries": [{"role": "user", "kind": "text", "content": "zephyrine secret plans"}]}, key=other)
    status, found, text, _ = await api.call("GET", "/v2/sessions/search?q=ZEPHYRINE&limit=4", key=key)
    assert status == 200, text
    hits = found["hits"]
    assert [h["seq"] for h in hits] == [6, 5, 4, 3] and all(h["session_id"] == sid for h in hits)
    assert hits[0]["snippet"] == "**Zephyrine**: rollback done" and hits[0]["session_name"] == "search-a"
    assert "**zephyrine**" in hits[1]["snippet"] and hits[1]["role"] == "user" and hits[1]["at"]
    _, more, _, _ = await api.call("GET", f"/v2/sessions/search?q=zephyrine&limit=4&cursor={found['next_cursor']}",
                                   key=key)
    assert [h["seq"] for h in more["hits"]] == [2, 1] and more["next_cursor"] == ""
    _, both, _, _ = await api.call("GET", "/v2/sessions/search?q=zephyrine+attempt+3", key=key)  # every word
    assert [h["seq"] for h in both["hits"]] == [4]
    _, theirs_found, _, _ = await api.call("GET", "/v2/sessions/search?q=zephyrine", key=other)
    assert [h["session_id"] for h in theirs_found["hits"]] == [theirs["session_id"]]
    # FTS syntax in a query is just words; nothing but words is a 400.
    for q in ('zephyrine" OR "plans', "zephyrine*", "NEAR(zephyrine plans)", "content:plans"):
        status, body, text, _ = await api.call("GET", f"/v2/sessions/search?q={q}", key=key)
        assert status == 200 and all(h["session_id"] == sid for h in body["hits"]), (q, text)
    for q in ("", "%20", "%2A%2A"):
        assert (await api.call("GET", f"/v2/sessions/search?q={q}", key=key))[0] == 400, q


async def _changes(api, key, sid, query=""):
    """The watch's server-sent events, as JSON, as they come."""
    async with api.http.get(f"{api.base}/v2/sessions/{sid}/watch{query}",
                            headers={"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        async for line in r.content:
            if line.startswith(b"data:"):
                yield json.loads(line[5:])


async def test_a_watch_follows_the_transcript_as_it_is_written(api):
    """A watcher sees each append as it is written (pushed, not asked for),
    events and status changes too, and the stream ends once the session has."""
    key, other = await api.login(), await api.login()
    sid = (await _transcript_session(api, key))["session_id"]
    await api.call("POST", f"/v2/sessions/{sid}/input", {"content": "before"}, key=key)

    seen = []

    async def watch():
        async for change in _changes(api, key, sid):
            seen.append(change)

    watcher = asyncio.create_task(watch())
    while not seen:  # the first change: the status as it is now, no entries (since unset: from now on)
        await asyncio.sleep(0.01)
    assert seen[0]["status"] == "idle" and seen[0].get("entries", []) == [] and seen[0]["transcript_count"] == 1
    for i in range(3):
        await api.call("POST", f"/v2/sessions/{sid}/input", {"content": f"live {i}"}, key=key)
        for _ in range(200):
            if any(e["content"] == f"live {i}" for c in seen for e in c.get("entries", [])):
                break
            await asyncio.sleep(0.01)
    assert (await api.call("DELETE", f"/v2/sessions/{sid}", key=key))[0] == 200
    await asyncio.wait_for(watcher, 10)  # the stream ends with the session
    entries = [e for c in seen for e in c.get("entries", [])]
    assert [(e["seq"], e["content"]) for e in entries] == [(2, "live 0"), (3, "live 1"), (4, "live 2")]
    assert seen[-1]["status"] == "terminated" and seen[-1]["state"] == "ended"
    assert "terminated" in [e["type"] for c in seen for e in c.get("events", [])]

    # since replays from there (the session has ended: the replay, then the end).
    replay = [c async for c in _changes(api, key, sid, "?since=2")]
    assert [e["content"] for c in replay for e in c.get("entries", [])] == ["live 1", "live 2"]
    # Another account's session is not there; a bad since is refused.
    status, err, text, _ = await api.call("GET", f"/v2/sessions/{sid}/watch", key=other)
    assert status == 404 and err["code"] == 5, text
    assert (await api.call("GET", f"/v2/sessions/{sid}/watch?since=-1", key=key))[0] == 400


async def test_a_watch_pages_a_long_backlog(api):
    key = await api.login()
    sid = (await _transcript_session(api, key))["session_id"]
    for start in range(0, 250, 50):
        await api.call("POST", f"/v2/sessions/{sid}/transcript",
                       {"entries": [{"content": f"e{i}"} for i in range(start, start + 50)]}, key=key)
    await api.call("DELETE", f"/v2/sessions/{sid}", key=key)
    changes = [c async for c in _changes(api, key, sid, "?since=0")]
    sizes = [len(c.get("entries", [])) for c in changes]
    assert sizes[:3] == [100, 100, 50] and sum(sizes) == 250, sizes
    assert [e["seq"] for c in changes for e in c.get("entries", [])] == list(range(1, 251))


async def test_an_account_holds_a_bounded_number_of_watches(tmp_path, monkeypatch):
    """Each watch looks at the database: past the quota, a 429 that names it;
    a watch that ends gives its place back."""
    monkeypatch.setenv("CERVER_QUOTA_WATCHES", "2")
    async with running_stack(tmp_path / "stack") as stack:
        api = stack.api
        key, other = await api.login(), await api.login()
        sid = (await _transcript_session(api, key))["session_id"]
        headers = {"Authorization": f"Bearer {key}", "Accept": "text/event-stream"}
        held = [await api.http.get(f"{api.base}/v2/sessions/{sid}/watch", headers=headers) for _ in range(2)]
        assert [r.status for r in held] == [200, 200]
        status, err, text, _ = await api.call("GET", f"/v2/sessions/{sid}/watch", key=key)
        assert status == 429 and "watches" in text and err["code"] == 8, text
        theirs = (await _transcript_session(api, other))["session_id"]  # another account is not held back
        async with api.http.get(f"{api.base}/v2/sessions/{theirs}/watch",
                                headers={**headers, "Authorization": f"Bearer {other}"}) as r:
            assert r.status == 200
        held[0].close()
        for _ in range(100):  # the server sees the watch gone
            async with api.http.get(f"{api.base}/v2/sessions/{sid}/watch", headers=headers) as r:
                if r.status == 200:
                    break
            await asyncio.sleep(0.05)
        assert r.status == 200
        held[1].close()
