"""Agent links and call forwarding. A replica forwards a call to the agent
whose socket it holds, or, per the connection table, to the replica that
holds it."""
import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator

from cerver.v2 import relay_pb2, relay_pb2_grpc
from servicekit import auth, errors, peers
from servicekit.clock import now
from services.relay import frames
from services.relay.store import ConnectionRow, RelayStore

log = logging.getLogger("cerver.relay")
_CLOSED = object()


class AgentLink:
    """One connected agent: calls out, replies back, matched by call id.
    Nothing here waits on a caller: a call's replies queue only as far as
    its credit, and credit is granted as its caller reads."""

    def __init__(self, ws, compute_id: str, account_id: str):
        self.ws = ws
        self.compute_id = compute_id
        self.account_id = account_id
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Queue] = {}

    async def _send(self, frame: relay_pb2.RelayFrame) -> None:
        try:
            await self.ws.send_bytes(frames.encode(frame))
        except ConnectionError:
            raise errors.unavailable(f"the relay agent of compute {self.compute_id} disconnected") from None

    async def call(self, call: relay_pb2.RelayCall, timeout: float | None = None) -> AsyncIterator[relay_pb2.RelayReply]:
        rid = next(self._ids)
        queue: asyncio.Queue = asyncio.Queue()  # at most WINDOW frames: the agent has no credit beyond
        self._pending[rid] = queue
        done = False
        try:
            await self._send(relay_pb2.RelayFrame(call_id=rid, call=call, credit=frames.WINDOW,
                                                  timeout_ms=int(timeout * 1000) if timeout else 0))
            read = 0
            while not done:
                frame = await queue.get()
                if frame is _CLOSED:
                    raise errors.unavailable(f"the relay agent of compute {self.compute_id} disconnected")
                if frame.HasField("error"):
                    done = True
                    raise errors.ServiceError(errors.code_of(frame.error.code),
                                              frame.error.message or "the relay agent refused the call")
                done = frame.done
                yield frame.reply
                read += 1
                if not done and read >= frames.WINDOW // 2:
                    await self._send(relay_pb2.RelayFrame(call_id=rid, credit=read))
                    read = 0
        finally:
            self._pending.pop(rid, None)
            if not done and not self.ws.closed:
                with contextlib.suppress(errors.ServiceError, RuntimeError):
                    await self._send(relay_pb2.RelayFrame(call_id=rid, cancel=True))

    def dispatch(self, data: bytes) -> bool:
        """Hands a frame to its call without waiting. False: the agent broke
        the protocol (not a frame, or replies beyond the call's credit)."""
        frame = frames.decode(data)
        if frame is None or frame.WhichOneof("frame") not in ("reply", "error"):
            return False
        queue = self._pending.get(frame.call_id)
        if queue is None:
            return True  # the call is over (cancelled): what was on its way is dropped
        if queue.qsize() >= frames.WINDOW:
            return False
        queue.put_nowait(frame)
        return True

    def close(self) -> None:
        for queue in self._pending.values():
            queue.put_nowait(_CLOSED)


class Hub:
    def __init__(self, store: RelayStore, replica_id: str, replica_addr: str):
        self.store = store
        self.replica_id = replica_id
        self.replica_addr = replica_addr
        self.links: dict[str, AgentLink] = {}

    async def attach(self, link: AgentLink) -> None:
        previous = self.links.get(link.compute_id)
        if previous is not None:  # the agent reconnected: the old socket is dead
            previous.close()
            await previous.ws.close()
        self.links[link.compute_id] = link
        await self.store.connected(ConnectionRow(compute_id=link.compute_id, account_id=link.account_id,
                                                 replica_id=self.replica_id, replica_addr=self.replica_addr,
                                                 connected_at=now()))
        log.info("compute %s connected", link.compute_id)

    async def detach(self, link: AgentLink) -> None:
        link.close()
        if self.links.get(link.compute_id) is link:
            del self.links[link.compute_id]
            await self.store.disconnected(link.compute_id, self.replica_id)
            log.info("compute %s disconnected", link.compute_id)

    async def connection(self, compute_id: str) -> ConnectionRow | None:
        return await self.store.connection(compute_id)

    async def forward(self, call: relay_pb2.RelayCall, account_id: str,
                      timeout: float | None = None) -> AsyncIterator[relay_pb2.RelayReply]:
        """`timeout`: what is left of the caller's deadline."""
        link = self.links.get(call.compute_id)
        if link is not None:
            if link.account_id != account_id:
                raise errors.not_found("compute", call.compute_id)
            async for reply in link.call(call, timeout):
                yield reply
            return
        row = await self.connection(call.compute_id)
        if row is not None and row.account_id != account_id:
            raise errors.not_found("compute", call.compute_id)
        if row is None or row.replica_id == self.replica_id:
            raise errors.unavailable(f"compute {call.compute_id} is not connected to the relay")
        stub = relay_pb2_grpc.RelayServiceStub(peers.channel_to(row.replica_addr))
        async for reply in stub.Forward(call, metadata=auth.service_metadata(account_id), timeout=timeout):
            yield reply

    async def close(self) -> None:
        for link in list(self.links.values()):
            await link.ws.close()
            await self.detach(link)
