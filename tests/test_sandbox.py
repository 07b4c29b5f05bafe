"""The local adapter on its own: refusing to run unisolated unless told,
and the per-run resource limits."""
import pytest

from services.compute.adapters import local
from services.compute.adapters.local import IsolationUnavailable, LocalProvider


class Box:
    def __init__(self, sandbox_id, workspace_id="", network=False):
        self.sandbox_id, self.compute_id, self.workspace_id, self.network = sandbox_id, "", workspace_id, network


async def run(provider, box, code, runtime="shell", timeout=30):
    events = [e async for e in provider.run(box, runtime, code, "", {}, timeout)]
    return "".join(e.data for e in events if e.type == "stdout"), "".join(
        e.data for e in events if e.type == "stderr"), events[-1]


async def test_without_bubblewrap_it_refuses_unless_told(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(local, "bwrap_usable", lambda: (False, "bubblewrap (bwrap) is not installed"))
    monkeypatch.delenv("CERVER_ALLOW_UNISOLATED", raising=False)
    with pytest.raises(IsolationUnavailable, match="CERVER_ALLOW_UNISOLATED"):
        LocalProvider.from_env(tmp_path)
    monkeypatch.setenv("CERVER_ALLOW_UNISOLATED", "1")
    monkeypatch.setenv("CERVER_SANDBOX_WARM", "0")
    provider = LocalProvider.from_env(tmp_path)
    assert not provider.isolated and "UNISOLATED" in caplog.text
    box = Box("sbx_u")
    try:
        box.workspace_id = await provider.create(box)
        out, _, end = await run(provider, box, "echo hi > f.txt; cat f.txt; pwd")
        assert out.startswith("hi\n") and out.strip().endswith(box.workspace_id) and end.exit_code == 0
    finally:
        await provider.close()


async def test_memory_limit(tmp_path):
    provider = LocalProvider(tmp_path, memory_mb=256, warm=0)
    box = Box("sbx_m")
    try:
        box.workspace_id = await provider.create(box)
        _, err, end = await run(provider, box, "x = bytearray(512 * 1024 * 1024)", runtime="python")
        assert end.exit_code != 0 and "MemoryError" in err
        out, _, end = await run(provider, box, "x = bytearray(64 * 1024 * 1024); print('fits')", runtime="python")
        assert out == "fits\n" and end.exit_code == 0
    finally:
        await provider.close()
