"""Files of any size, streamed both ways through the edge (never held whole
by a Cerver process), ranges, moves, and what an upload cut off leaves."""
import asyncio
import hashlib
import os

import aiohttp

MIB = 1 << 20


async def _sandbox(api, key) -> str:
    status, box, text, _ = await api.call("POST", "/v2/sandbox", {}, key=key)
    assert status == 200, text
    return box["sandbox_id"]


async def _body(blob: bytes, piece: int = 256 * 1024):
    """A request body sent in pieces, with no Content-Length (chunked)."""
    for at in range(0, len(blob), piece):
        yield blob[at:at + piece]
        await asyncio.sleep(0)


async def _put(api, key, url: str, body, content_type="application/octet-stream"):
    headers = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
    async with api.http.put(api.base + url, data=body, headers=headers) as r:
        return r.status, await r.json(content_type=None)


async def _get(api, key, url: str) -> tuple[int, bytes, str]:
    async with api.http.get(api.base + url, headers={"Authorization": f"Bearer {key}"}) as r:
        return r.status, await r.read(), r.headers.get("Content-Type", "")


async def test_a_large_binary_file_streams_in_and_out(api):
    """25.5 MiB of random bytes: over the edge's 1 MiB body limit and the
    8 MiB of a JSON file call, in pieces and a remainder; what the sandbox
    holds and what comes back are the same bytes."""
    key = await api.login()
    sid = await _sandbox(api, key)
    blob = os.urandom(25 * MIB + 512 * 1024 + 7)
    url = f"/v2/sandbox/{sid}/files/content?path=data/big.bin"
    status, info = await _put(api, key, url, _body(blob))
    assert status == 200 and info == {"path": "data/big.bin", "size": len(blob)}, info
    status, ran, text, _ = await api.call("POST", f"/v2/sandbox/{sid}/run", {"code": "sha256sum data/big.bin",
                                                                              "runtime": "shell"}, key=key)
    assert status == 200 and ran["stdout"].split()[0] == hashlib.sha256(blob).hexdigest(), text
    status, got, content_type = await _get(api, key, url)
    assert status == 200 and content_type == "application/octet-stream"
    assert len(got) == len(blob) and got == blob
    # No temporary piece is left beside it.
    _, listed, _, _ = await api.call("GET", f"/v2/sandbox/{sid}/files/list?path=data", key=key)
    assert [e["name"] for e in listed["entries"]] == ["big.bin"]
    # Empty files are files too.
    status, info = await _put(api, key, f"/v2/sandbox/{sid}/files/content?path=empty", b"")
    assert status == 200 and info["size"] == 0, info
    status, got, _ = await _get(api, key, f"/v2/sandbox/{sid}/files/content?path=empty")
    assert status == 200 and got == b""
    await api.call("DELETE", f"/v2/sandbox/{sid}", key=key)


async def test_a_sessions_files_stream_too(api):
    key = await api.login()
    status, s, text, _ = await api.call("POST", "/v2/sessions", {"requirements": {"runtime": "shell"}}, key=key)
    assert status == 200, text
    blob = os.urandom(3 * MIB + 5)
    url = f"/v2/sessions/{s['session_id']}/files/content?path=in.bin"
    status, info = await _put(api, key, url, _body(blob))
    assert status == 200 and info["size"] == len(blob), info
    status, got, _ = await _get(api, key, url)
    assert status == 200 and got == blob
    other = await api.login()
    assert (await _get(api, other, url))[0] == 404  # another account's session
    assert (await _put(api, other, url, b"x"))[0] == 404
    await api.call("DELETE", f"/v2/sessions/{s['session_id']}", key=key)


async def test_an_upload_cut_off_leaves_what_was_there(api):
    """The caller goes away midway: the file keeps its old content, and no
    half-written piece is left in the workspace."""
    key = await api.login()
    sid = await _sandbox(api, key)
    assert (await api.call("POST", f"/v2/sandbox/{sid}/files", {"path": "keep.txt", "content": "old"},
                           key=key))[0] == 200

    async def cut_off():
        yield os.urandom(3 * MIB)
        await asyncio.sleep(0.5)  # the first pieces reach the sandbox
        raise ConnectionResetError("the caller went away")

    try:
        await _put(api, key, f"/v2/sandbox/{sid}/files/content?path=keep.txt", cut_off())
    except (aiohttp.ClientError, ConnectionResetError):
        pass
    for _ in range(50):
        _, listed, _, _ = await api.call("GET", f"/v2/sandbox/{sid}/files/list", key=key)
        names = [e["name"] for e in listed["entries"]]
        if not any(".upload-" in name for name in names):
            break
        await asyncio.sleep(0.1)
    assert not any(".upload-" in name for name in names), names
    _, got, _, _ = await api.call("GET", f"/v2/sandbox/{sid}/files?path=keep.txt", key=key)
    assert got["content"] == "old"
    await api.call("DELETE", f"/v2/sandbox/{sid}", key=key)


async def test_streamed_files_stay_in_the_workspace_and_the_account(api):
    key = await api.login()
    sid = await _sandbox(api, key)
    for escape in ("../../etc/cerver", "/etc/cerver", "a/../../x"):
        status, body = await _put(api, key, f"/v2/sandbox/{sid}/files/content?path={escape}", b"x")
        assert status == 400 and body["code"] == 3, (escape, body)
        assert (await _get(api, key, f"/v2/sandbox/{sid}/files/content?path={escape}"))[0] == 400, escape
    status, body = await _put(api, key, f"/v2/sandbox/{sid}/files/content", b"x")  # no path
    assert status == 400 and body["code"] == 3, body
    status, missing, content_type = await _get(api, key, f"/v2/sandbox/{sid}/files/content?path=nope")
    assert status == 404 and content_type.startswith("application/json") and b'"code":5' in missing
    other = await api.login()
    assert (await _put(api, other, f"/v2/sandbox/{sid}/files/content?path=x", b"x"))[0] == 404
    assert (await _get(api, other, f"/v2/sandbox/{sid}/files/content?path=x"))[0] == 404
    async with api.http.put(api.base + f"/v2/sandbox/{sid}/files/content?path=x", data=b"x") as r:
        assert r.status == 401  # no key
    await api.call("DELETE", f"/v2/sandbox/{sid}", key=key)


async def test_ranges_appends_and_moves(api):
    key = await api.login()
    sid = await _sandbox(api, key)
    base = f"/v2/sandbox/{sid}/files"
    assert (await api.call("POST", base, {"path": "log.txt", "content": "hello "}, key=key))[1]["size"] == 6
    status, info, text, _ = await api.call("POST", base, {"path": "log.txt", "content": "world", "offset": 6},
                                           key=key)
    assert status == 200 and info["size"] == 11, text
    status, body, _, _ = await api.call("POST", base, {"path": "log.txt", "content": "!", "offset": 3}, key=key)
    assert status == 400 and "not 3" in body["message"]  # pieces come in order
    assert (await api.call("POST", base, {"path": "new.txt", "content": "x", "offset": 4}, key=key))[0] == 404
    _, got, _, _ = await api.call("GET", f"{base}?path=log.txt&offset=6&length=3", key=key)
    assert got["content"] == "wor"
    _, got, _, _ = await api.call("GET", f"{base}?path=log.txt&offset=6", key=key)
    assert got["content"] == "world"
    _, got, _, _ = await api.call("GET", f"{base}?path=log.txt&offset=100", key=key)
    assert got["content"] == ""
    for bad in ("offset=-1", "offset=9223372036854775808", "length=8388609", "length=x"):
        status, body, _, _ = await api.call("GET", f"{base}?path=log.txt&{bad}", key=key)
        assert status == 400 and body["code"] == 3, (bad, body)
    status, moved, text, _ = await api.call("POST", f"{base}/move", {"from_path": "log.txt",
                                                                     "to_path": "archive/log.txt"}, key=key)
    assert status == 200 and moved == {"path": "archive/log.txt", "size": 11}, text
    assert (await api.call("GET", f"{base}/exists?path=log.txt", key=key))[1]["exists"] is False
    assert (await api.call("POST", f"{base}/move", {"from_path": "archive/log.txt", "to_path": "../x"},
                           key=key))[0] == 400
    assert (await api.call("POST", f"{base}/move", {"from_path": "nope", "to_path": "x"}, key=key))[0] == 404
    await api.call("DELETE", f"/v2/sandbox/{sid}", key=key)


async def _raw_put(api, head: bytes, body: bytes, pause: float) -> bytes:
    """An upload's head, then (after a pause) its body, on a socket of its
    own: the answer's status line."""
    url = aiohttp.client.URL(api.base)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(head)
        await writer.drain()
        await asyncio.sleep(pause)
        writer.write(body)
        await writer.drain()
        return await reader.readline()
    finally:
        writer.close()


async def test_an_upload_refused_before_its_body_arrives_is_answered_with_the_refusal(api):
    """The service refuses an upload without a key before its body comes;
    the edge answers 401 while the body is still on its way (it once
    answered 500 now and then: the body's reader outlived the answer)."""
    head = (b"PUT /v2/sessions/0/files/content?path= HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n")
    answers = [await _raw_put(api, head, b'""', pause) for pause in (0, 0.001, 0.003) * 60]
    assert set(answers) == {b"HTTP/1.1 401 Unauthorized\r\n"}, sorted(set(answers))



async def test_a_large_upload_refused_midway_is_answered_with_the_refusal(api):
    """A service refuses an upload after its first piece (a path out of the
    workspace, another account's session) while the caller still sends: the
    caller reads that refusal, on one hop (sandbox) and on two (session)."""
    key, other = await api.login(), await api.login()
    status, s, text, _ = await api.call("POST", "/v2/sessions", {"requirements": {"runtime": "shell"}}, key=key)
    assert status == 200, text
    sid = await _sandbox(api, key)
    blob = os.urandom(3 * MIB)
    for _ in range(4):
        for url, who, want in ((f"/v2/sandbox/{sid}/files/content?path=../../etc/x", key, 400),
                               (f"/v2/sessions/{s['session_id']}/files/content?path=../../etc/x", key, 400),
                               (f"/v2/sessions/{s['session_id']}/files/content?path=x", other, 404)):
            status, body = await _put(api, who, url, _body(blob))
            assert status == want, (url, status, body)
    await api.call("DELETE", f"/v2/sandbox/{sid}", key=key)
