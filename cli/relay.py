"""`cerver relay --url BASE_URL`: turn this machine into a private compute.

Logs in with the device flow (or CERVER_API_TOKEN), registers the host as a
compute on the account, then holds a WebSocket to the gateway's
/v2/connect/ws and serves the sandbox contract there: the node runtime
(services/node), as on every Cerver machine. Heartbeats keep it online;
reconnects back off; the compute id and key survive restarts in a state
file (readable only by its owner).
"""
import asyncio
import contextlib
import json
import logging
import os
import pathlib
import random
import signal
import socket

import aiohttp
import grpc

from cerver.v2 import relay_pb2
from servicekit import config
from services.compute.adapters.base import SandboxGone, SandboxRefused
from services.compute.adapters.local import LocalProvider
from services.node.runtime import NodeRuntime
from services.relay import frames

log = logging.getLogger("cerver.relay.agent")
HEARTBEAT_S = 15.0  # at most; a third of the compute's heartbeat window
MAX_BACKOFF_S = 30.0


class Fatal(Exception):
    """Stops the agent: retrying cannot help (revoked key, denied login)."""


def state_path() -> pathlib.Path:
    default = pathlib.Path(os.environ.get("XDG_CONFIG_HOME", pathlib.Path.home() / ".config")) / "cerver" / "relay.json"
    return pathlib.Path(config.settings().relay_state or default)


class State:
    def __init__(self, path: pathlib.Path, url: str):
        self.path = path
        data = json.loads(path.read_text()) if path.exists() else {}
        same_gateway = data.get("url") == url
        self.url = url
        self.api_key = data.get("api_key", "") if same_gateway else ""
        self.compute_id = data.get("compute_id", "") if same_gateway else ""

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps({"url": self.url, "api_key": self.api_key, "compute_id": self.compute_id}))
        tmp.replace(self.path)


class Call:
    """A call in flight on this machine: its task, and the replies the relay
    is ready to take (frames.WINDOW at first, more as its caller reads)."""

    def __init__(self, credit: int):
        self.credit = credit
        self.task: asyncio.Task | None = None
        self._more = asyncio.Event()

    def grant(self, n: int) -> None:
        self.credit += n
        self._more.set()

    async def spend(self) -> None:
        while self.credit <= 0:
            self._more.clear()
            await self._more.wait()
        self.credit -= 1


class Agent:
    def __init__(self, url: str, name: str, state: State, provider: LocalProvider, socket_url: str = ""):
        self.url = url.rstrip("/")
        # Where the socket goes: the gateway, or (tests) one relay replica.
        self.socket_url = (socket_url or self.url).rstrip("/")
        self.heartbeat_s = HEARTBEAT_S
        self.connected = False
        self.name = name
        self.state = state
        self.provider = provider
        self.runtime = NodeRuntime(provider)
        self.calls: dict[int, Call] = {}

    # -- the REST side ---------------------------------------------------------
    async def _json(self, http, method: str, path: str, body=None, key: str = ""):
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with http.request(method, self.url + path, json=body, headers=headers) as r:
            return r.status, await r.json(content_type=None)

    async def login(self, http) -> str:
        """RFC 8628 device flow: print where to approve, poll until done."""
        status, start = await self._json(http, "POST", "/v2/auth/device", {"client_name": self.name})
        if status != 200:
            raise Fatal(f"device login failed: {start}")
        print(f"\nTo connect this machine, open {start['verification_uri_complete']} and approve the code"
              f"\n\n    {start['user_code']}\n\n(or POST /v2/auth/approve {{\"user_code\": \"{start['user_code']}\"}}"
              f" with your key). Waiting…", flush=True)
        interval = start["interval"]
        while True:
            await asyncio.sleep(interval)
            status, poll = await self._json(http, "GET", f"/v2/auth/device?device_code={start['device_code']}")
            if status != 200:
                raise Fatal(f"device login failed: {poll}")
            interval = max(interval, poll.get("interval", interval))
            if poll["status"] == "approved":
                print("Approved.", flush=True)
                return poll["api_key"]
            if poll["status"] in ("denied", "expired"):
                raise Fatal(f"device login {poll['status']}")

    async def register(self, http) -> None:
        body = {"name": self.name, "capabilities": self.runtime.capabilities,
                "compute_id": self.state.compute_id}
        status, compute = await self._json(http, "POST", "/v2/computes/register", body, self.state.api_key)
        if status == 404 and self.state.compute_id:  # unregistered meanwhile: register anew
            self.state.compute_id = ""
            return await self.register(http)
        if status == 401:
            raise Fatal("the API key was refused (revoked?); remove the state file to log in again")
        if status != 200:
            raise ConnectionError(f"register failed: {status} {compute}")
        self.state.compute_id = compute["compute_id"]
        self.heartbeat_s = min(HEARTBEAT_S, compute.get("heartbeat_window_s", 60) / 3)
        self.state.save()
        print(f"Registered as compute {self.state.compute_id} ({self.name}).", flush=True)

    async def heartbeat(self, http) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                await self._json(http, "POST", f"/v2/computes/{self.state.compute_id}/heartbeat", {},
                                 self.state.api_key)

    # -- the socket side -------------------------------------------------------
    async def serve(self, http) -> None:
        ws_url = self.socket_url.replace("http", "ws", 1) + f"/v2/connect/ws?compute_id={self.state.compute_id}"
        async with http.ws_connect(ws_url, headers={"Authorization": f"Bearer {self.state.api_key}"},
                                   heartbeat=20, max_msg_size=config.MAX_MESSAGE_BYTES) as ws:
            print(f"Connected to {self.url}; serving sandboxes.", flush=True)
            self.connected = True
            try:
                # Nothing in this loop waits on a call: each runs in its own
                # task, and credit and cancellation only reach it.
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.BINARY:
                        break
                    frame = frames.decode(msg.data)
                    if frame is None:
                        log.warning("the relay sent something that is not a RelayFrame; reconnecting")
                        break
                    call = self.calls.get(frame.call_id)
                    if frame.HasField("call") and call is None:
                        call = self.calls[frame.call_id] = Call(frame.credit)
                        call.task = asyncio.create_task(self.answer(ws, frame.call_id, frame.call, call,
                                                                    frame.timeout_ms / 1000 or None))
                        call.task.add_done_callback(lambda _t, rid=frame.call_id: self.calls.pop(rid, None))
                    elif call is not None and frame.cancel:
                        call.task.cancel()
                    elif call is not None and frame.credit:
                        call.grant(frame.credit)
            finally:
                for call in list(self.calls.values()):
                    call.task.cancel()

    async def answer(self, ws, rid: int, request: relay_pb2.RelayCall, call: "Call", timeout: float | None) -> None:
        failure = None
        try:
            async with asyncio.timeout(timeout):
                async for message, done in self.runtime.handle(request):
                    await call.spend()  # waits while the relay's caller is behind
                    await ws.send_bytes(frames.encode(relay_pb2.RelayFrame(call_id=rid, reply=message, done=done)))
        except SandboxRefused as exc:
            failure = (grpc.StatusCode.NOT_FOUND if exc.not_found else grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except SandboxGone as exc:
            failure = (grpc.StatusCode.NOT_FOUND, str(exc))
        except TimeoutError:
            failure = (grpc.StatusCode.DEADLINE_EXCEEDED, "the call outlived its deadline on the machine")
        if failure is not None and not ws.closed:
            await ws.send_bytes(frames.encode(frames.error(rid, *failure)))

    async def run(self) -> None:
        backoff = 1.0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)) as http:
            if not self.state.api_key:
                self.state.api_key = config.settings().api_token.get_secret_value() or await self.login(http)
                self.state.save()
            while True:
                self.connected = False
                beating = None
                try:
                    await self.register(http)
                    beating = asyncio.create_task(self.heartbeat(http))
                    await self.serve(http)
                except aiohttp.WSServerHandshakeError as exc:
                    if exc.status == 401:
                        raise Fatal("the API key was refused (revoked?)") from None
                    log.warning("the gateway refused the socket: %s", exc.status)
                except (aiohttp.ClientError, ConnectionError, OSError, asyncio.TimeoutError) as exc:
                    log.warning("connection lost: %s", exc)
                finally:
                    if beating is not None:
                        beating.cancel()
                backoff = 1.0 if self.connected else min(MAX_BACKOFF_S, backoff * 2)
                delay = backoff * (0.5 + random.random() / 2)
                print(f"Disconnected; reconnecting in {delay:.1f}s.", flush=True)
                await asyncio.sleep(delay)


async def _main(url: str, name: str) -> int:
    state = State(state_path(), url.rstrip("/"))
    provider = await LocalProvider.from_env(state.path.parent / "sandboxes")
    await provider.start()
    agent = Agent(url, name, state, provider)
    task = asyncio.create_task(agent.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        return 0
    except Fatal as exc:
        print(f"cerver relay: {exc}", flush=True)
        return 1
    finally:
        await provider.close()
    return 0


def run(url: str, name: str | None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    return asyncio.run(_main(url, name or socket.gethostname()))
