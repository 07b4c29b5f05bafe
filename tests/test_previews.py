"""Public previews: a port that code in a sandbox listens on, served through
the edge's preview listener at the session's preview_url (HTTP and
WebSocket), to whoever holds that URL, and to nothing else."""
import asyncio
import urllib.parse

import aiohttp

from services.sessions import previews

# A WebSocket echo server on the standard library (the sandbox has no
# websockets package): the handshake of RFC 6455, then text frames echoed.
WS_ECHO = r'''
import base64, hashlib, socket, struct, threading
def serve(conn):
    head = b""
    while b"\r\n\r\n" not in head:
        head += conn.recv(4096)
    key = [l.split(b":", 1)[1].strip() for l in head.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key")][0]
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    while True:
        b1, b2 = conn.recv(2)
        n = b2 & 127
        if n == 126: n = struct.unpack(">H", conn.recv(2))[0]
        mask = conn.recv(4)
        data = b""
        while len(data) < n: data += conn.recv(n - len(data))
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
        if b1 & 15 == 8: return
        reply = b"echo: " + data
        conn.sendall(bytes([0x81, len(reply)]) + reply)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 9000)); s.listen()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
'''

WAIT_FOR = "for i in $(seq 100); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}))' " \
           "2>/dev/null && break; sleep 0.05; done"


async def _session(api, key, **requirements) -> dict:
    status, s, text, _ = await api.call("POST", "/v2/sessions", {"requirements": {"runtime": "shell", **requirements}},
                                        key=key)
    assert status == 200, text
    return s


async def _run(api, key, sid, code) -> dict:
    status, ran, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run", {"code": code}, key=key)
    assert status == 200, text
    return ran["result"]


def _address(url: str) -> tuple[str, dict]:
    """The preview URL as a client reaches it: *.localhost is this machine
    (browsers resolve it so; the test connects to 127.0.0.1 and says Host)."""
    parts = urllib.parse.urlsplit(url)
    return f"http://127.0.0.1:{parts.port}{parts.path}", {"Host": parts.netloc}


async def test_a_sandboxs_port_is_served_at_its_preview_url(api):
    key = await api.login()
    s = await _session(api, key, public_preview=True, preview_port=8000)
    assert s["provider"] == "local", s["routing"]  # the router no longer filters local compute out
    url = s["preview_url"]
    label = urllib.parse.urlsplit(url).hostname.split(".")[0]
    assert url.startswith(f"http://{label}.preview.localhost:") and len(label) <= 63
    sid = s["session_id"]
    await _run(api, key, sid, "mkdir -p site/assets && echo '<h1>hello preview</h1>' > site/index.html && "
                              "echo 'body{}' > site/assets/app.css && "
                              "(cd site && nohup python3 -m http.server 8000 --bind 127.0.0.1 >/dev/null 2>&1 &) ; "
                              + WAIT_FOR.format(port=8000))
    base, host = _address(url)
    async with aiohttp.ClientSession() as http:
        async with http.get(base, headers=host) as r:
            assert r.status == 200 and "hello preview" in await r.text()
        # Absolute paths of the app work: the preview is a host of its own.
        async with http.get(base + "assets/app.css", headers=host) as r:
            assert r.status == 200 and await r.text() == "body{}\n"
        async with http.get(base + "missing", headers=host) as r:
            assert r.status == 404  # the app's own answer
    # The same URL is in every view of the session.
    _, again, _, _ = await api.call("GET", f"/v2/sessions/{sid}", key=key)
    assert again["preview_url"] == url
    await api.call("DELETE", f"/v2/sessions/{sid}", key=key)
    async with aiohttp.ClientSession() as http:
        async with http.get(base, headers=host) as r:
            body = await r.json()
            assert r.status == 409 and "terminated" in body["message"], body  # ended: no preview any more


async def test_websockets_pass_through_a_preview(api):
    key = await api.login()
    s = await _session(api, key, public_preview=True, preview_port=9000)
    sid = s["session_id"]
    status, _, text, _ = await api.call("POST", f"/v2/sessions/{sid}/files", {"path": "ws.py", "content": WS_ECHO},
                                        key=key)
    assert status == 200, text
    await _run(api, key, sid, "(nohup python3 ws.py >/dev/null 2>&1 &) ; " + WAIT_FOR.format(port=9000))
    base, host = _address(s["preview_url"])
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(base.replace("http://", "ws://") + "socket", headers=host) as ws:
            for word in ("one", "two"):
                await ws.send_str(word)
                assert (await ws.receive(timeout=10)).data == f"echo: {word}"
    await api.call("DELETE", f"/v2/sessions/{sid}", key=key)


async def test_a_preview_reaches_only_its_own_sandbox(api, stack):
    """A port of the host (or of another sandbox) is not reachable however a
    preview names it: the connection is made inside the sandbox's network.
    Forged, altered or foreign labels get nothing."""
    received = []
    host_server = await asyncio.start_server(lambda r, w: (received.append(1), w.close()), "127.0.0.1", 0)
    host_port = host_server.sockets[0].getsockname()[1]
    key = await api.login()
    s = await _session(api, key, public_preview=True, preview_port=host_port)
    base, host = _address(s["preview_url"])
    async with aiohttp.ClientSession() as http:
        async with http.get(base, headers=host) as r:  # nothing listens on that port in the sandbox
            body = await r.json()
            assert r.status == 502 and body["code"] == 14, body
        label = host["Host"].split(".")[0]
        forged = label[:-1] + ("a" if label[-1] != "a" else "b")
        for bad in (forged, "0" * 32 + "-" + "a" * 26, "nope", ""):
            async with http.get(base, headers={"Host": host["Host"].replace(label, bad, 1) if bad
                                               else "preview.localhost"}) as r:
                body = await r.json()
                assert r.status == 404 and body["code"] == 5, (bad, body)
        # A session without public_preview has no preview, even with a valid label.
        plain = await _session(api, key)
        assert "preview_url" not in plain or not plain["preview_url"]
        other = host["Host"].replace(label, previews.label(plain["session_id"]), 1)
        async with http.get(base, headers={"Host": other}) as r:
            assert r.status == 409, await r.text()
    assert received == []  # the host's own port never saw a connection
    host_server.close()
    # The node's listener takes only the deployment's own callers.
    port = stack.hosts["node"].handlers[0].runtime.preview_port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"not-the-token {s['sandbox_id']} 22\n".encode())
    assert (await reader.readline()).startswith(b"error unauthenticated")
    writer.close()
    for sid in (s["session_id"], plain["session_id"]):
        await api.call("DELETE", f"/v2/sessions/{sid}", key=key)


def test_a_label_is_a_dns_label_and_cannot_be_forged(monkeypatch):
    import re
    import uuid
    monkeypatch.setenv("CERVER_SERVICE_TOKEN", "one-deployment")
    session_id = str(uuid.uuid4())
    label = previews.label(session_id)
    assert re.fullmatch(r"[a-z0-9-]{1,63}", label)
    assert previews.session_of(label) == session_id
    assert previews.session_of(label.upper()) == session_id  # host names are case-insensitive
    monkeypatch.setenv("CERVER_SERVICE_TOKEN", "another-deployment")
    assert previews.session_of(label) is None  # another deployment's key signs differently


async def test_a_flood_of_preview_connections_is_refused_past_the_nodes_limit(stack, monkeypatch):
    from services.node import previews as node_previews
    monkeypatch.setattr(node_previews, "MAX_CONNECTIONS", 2)
    port = stack.hosts["node"].handlers[0].runtime.preview_port
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]  # hold, say nothing
    await asyncio.sleep(0.2)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"error unavailable")
    writer.close()
    for _, w in held:
        w.close()
