"""Package indexes served here for the tests (CI has no internet): pip's
simple index (PEP 503) and the npm registry's package documents, each
offering one package, `cerver-probe`, on an address of this machine that a
sandbox's network reaches."""
import base64
import hashlib
import io
import json
import os
import socket
import tarfile
import zipfile

import pytest
from aiohttp import web


def _host_address() -> str:
    """An address of this machine that a sandbox's network reaches (its
    host loopback is off limits by design)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing address
            address = s.getsockname()[0]
        except OSError:
            address = ""
    if not address or address.startswith("127."):
        if os.environ.get("CI") == "true":
            pytest.fail("no non-loopback address on this machine for the package index")
        pytest.skip("no non-loopback address on this machine for the package index")
    return address


def _wheel() -> tuple[str, bytes]:
    name = "cerver_probe-1.0-py3-none-any.whl"
    files = {"cerver_probe/__init__.py": b"VALUE = 42\n",
             "cerver_probe-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: cerver-probe\nVersion: 1.0\n",
             "cerver_probe-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                                                b"Tag: py3-none-any\n"}
    record = "".join(f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
                     f"{len(data)}\n" for path, data in files.items()) + "cerver_probe-1.0.dist-info/RECORD,,\n"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for path, data in {**files, "cerver_probe-1.0.dist-info/RECORD": record.encode()}.items():
            z.writestr(path, data)
    return name, out.getvalue()


def _tarball() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as t:
        for path, data in {"package/package.json": json.dumps({"name": "cerver-probe", "version": "1.0.0",
                                                                "main": "index.js"}).encode(),
                           "package/index.js": b"module.exports = 42;\n"}.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture
async def indexes(monkeypatch):
    address = _host_address()
    wheel_name, wheel = _wheel()
    tarball = _tarball()
    served = []

    async def simple(request):
        served.append(request.path)
        if request.match_info["name"] != "cerver-probe":
            return web.Response(status=404)
        digest = hashlib.sha256(wheel).hexdigest()
        return web.Response(text=f'<html><body><a href="/files/{wheel_name}#sha256={digest}">{wheel_name}</a>'
                                 f'</body></html>', content_type="text/html")

    async def wheel_file(request):
        return web.Response(body=wheel, content_type="application/octet-stream")

    async def packument(request):
        served.append(request.path)
        if request.match_info["name"] != "cerver-probe":
            return web.json_response({"error": "Not found"}, status=404)
        base = f"http://{address}:{request.url.port}"
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
        return web.json_response({"name": "cerver-probe", "dist-tags": {"latest": "1.0.0"}, "versions": {"1.0.0": {
            "name": "cerver-probe", "version": "1.0.0", "main": "index.js",
            "dist": {"tarball": f"{base}/npm/cerver-probe/-/cerver-probe-1.0.0.tgz",
                     "shasum": hashlib.sha1(tarball).hexdigest(), "integrity": integrity}}}})

    async def tarball_file(request):
        return web.Response(body=tarball, content_type="application/octet-stream")

    app = web.Application()
    app.router.add_get("/simple/{name}/", simple)
    app.router.add_get("/files/{file}", wheel_file)
    app.router.add_get("/npm/{name}", packument)
    app.router.add_get("/npm/{name}/-/{file}", tarball_file)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, address, 0)
    await site.start()
    port = runner.addresses[0][1]
    monkeypatch.setenv("CERVER_PIP_INDEX_URL", f"http://{address}:{port}/simple/")
    monkeypatch.setenv("CERVER_NPM_REGISTRY", f"http://{address}:{port}/npm/")
    try:
        yield f"http://{address}:{port}", served
    finally:
        await runner.cleanup()
