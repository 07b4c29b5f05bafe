"""Agent links and call forwarding. A replica forwards a call to the agent
whose socket it holds, or, per the connection table, to the replica that
holds it."""
import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator

import grpc
from google.protobuf import json_format
from sqlmodel import delete, select

from cerver.v2 import relay_pb2, relay_pb2_grpc
from servicekit import auth, errors
from servicekit.clock import now
from servicekit.db import Database
from services.relay.store import ConnectionRow

log = logging.getLogger("cerver.relay")
REPLY_BUFFER = 64  # replies held per call before the socket stops being read (backpressure)
_CLOSED = object()


class AgentLink:
    """One connected agent: calls out, replies back, matched by id."""

    def __init__(self, ws, compute_id: str, account_id: str):
        self.ws = ws
        self.compute_id = compute_id
        self.account_id = account_id
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Queue] = {}

    async def call(self, call: relay_pb2.RelayCall) -> AsyncIterator[relay_pb2.RelayReply]:
        rid = next(self._ids)
        queue: asyncio.Queue = asyncio.Queue(maxsize=REPLY_BUFFER)
        self._pending[rid] = queue
        done = False
        try:
            await self.ws.send_str(json.dumps({"id": rid, "call": json_format.MessageToDict(
                call, preserving_proto_field_name=True)}))
            while not done:
                msg = await queue.get()
                if msg is _CLOSED:
                    raise errors.unavailable(f"the relay agent of compute {self.compute_id} disconnected")
                if "error" in msg:
                    done = True
                    err = msg["error"]
                    code = getattr(grpc.StatusCode, err.get("code", "UNKNOWN"), grpc.StatusCode.UNKNOWN)
                    raise errors.ServiceError(code, err.get("message", "the relay agent refused the call"))
                done = bool(msg.get("done"))
                if "reply" in msg:
                    yield json_format.ParseDict(msg["reply"], relay_pb2.RelayReply(), ignore_unknown_fields=True)
        finally:
            self._pending.pop(rid, None)
            if not done and not self.ws.closed:
                await self.ws.send_str(json.dumps({"id": rid, "cancel": True}))

    async def dispatch(self, msg: dict) -> None:
        queue = self._pending.get(msg.get("id"))
        if queue is not None:
            await queue.put(msg)  # waits when the caller is slow: backpressure on the socket

    def close(self) -> None:
        for queue in self._pending.values():
            while queue.full():
                queue.get_nowait()
            queue.put_nowait(_CLOSED)


class Hub:
    def __init__(self, db: Database, replica_id: str, replica_addr: str):
        self.db = db
        self.replica_id = replica_id
        self.replica_addr = replica_addr
        self.links: dict[str, AgentLink] = {}

    async def attach(self, link: AgentLink) -> None:
        previous = self.links.get(link.compute_id)
        if previous is not None:  # the agent reconnected: the old socket is dead
            previous.close()
            await previous.ws.close()
        self.links[link.compute_id] = link
        await self.db.upsert(ConnectionRow(compute_id=link.compute_id, account_id=link.account_id,
                                           replica_id=self.replica_id, replica_addr=self.replica_addr,
                                           connected_at=now()))
        log.info("compute %s connected", link.compute_id)

    async def detach(self, link: AgentLink) -> None:
        link.close()
        if self.links.get(link.compute_id) is link:
            del self.links[link.compute_id]
            async with self.db.session() as s:
                await s.exec(delete(ConnectionRow).where(ConnectionRow.compute_id == link.compute_id,
                                                         ConnectionRow.replica_id == self.replica_id))
            log.info("compute %s disconnected", link.compute_id)

    async def connection(self, compute_id: str) -> ConnectionRow | None:
        async with self.db.session() as s:
            return (await s.exec(select(ConnectionRow).where(ConnectionRow.compute_id == compute_id))).first()

    async def forward(self, call: relay_pb2.RelayCall, account_id: str) -> AsyncIterator[relay_pb2.RelayReply]:
        link = self.links.get(call.compute_id)
        if link is not None:
            if link.account_id != account_id:
                raise errors.not_found("compute", call.compute_id)
            async for reply in link.call(call):
                yield reply
            return
        row = await self.connection(call.compute_id)
        if row is not None and row.account_id != account_id:
            raise errors.not_found("compute", call.compute_id)
        if row is None or row.replica_id == self.replica_id:
            raise errors.unavailable(f"compute {call.compute_id} is not connected to the relay")
        async with grpc.aio.insecure_channel(row.replica_addr) as channel:
            stub = relay_pb2_grpc.RelayServiceStub(channel)
            async for reply in stub.Forward(call, metadata=auth.service_metadata(account_id)):
                yield reply

    async def close(self) -> None:
        for link in list(self.links.values()):
            await link.ws.close()
            await self.detach(link)
