"""The shape's floor: a REST edge, two Python gRPC hops and a spawn, doing no
other work — no key check, no database, no isolation, no telemetry.

`make bench` runs it beside the stack, so that the stack's figures can be read
against what three Python processes (edge → sessions → node, the product's
shape) cost before any of the product's work. Each process is started as
`python -m bench.floor ROLE PORT [UPSTREAM]`:

  node   a gRPC server that runs `sh -c CODE` (the whole output in one reply,
         or a message per line)
  hop    a gRPC server that forwards each call to the node
  edge   an aiohttp server: POST /run (JSON) and /run/stream (SSE), each one
         gRPC call to the hop

Methods carry raw bytes (no protobuf), which only lowers the floor.
"""
import asyncio
import json
import pathlib
import subprocess
import sys

import grpc
from aiohttp import web

RUN, STREAM = "/floor.Node/Run", "/floor.Node/Stream"


async def _spawn(code: bytes):
    return await asyncio.create_subprocess_exec("/bin/sh", "-c", code.decode(), stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)


async def node_run(code: bytes, context) -> bytes:
    proc = await _spawn(code)
    out, _ = await proc.communicate()
    return json.dumps({"stdout": out.decode(), "exit_code": proc.returncode}).encode()


async def node_stream(code: bytes, context):
    proc = await _spawn(code)
    async for line in proc.stdout:
        yield json.dumps({"type": "stdout", "data": line.decode()}).encode()
    yield json.dumps({"type": "exit", "exit_code": await proc.wait()}).encode()


def _handler(run, stream) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler("floor.Node", {
        "Run": grpc.unary_unary_rpc_method_handler(run),
        "Stream": grpc.unary_stream_rpc_method_handler(stream)})


async def serve_grpc(port: int, upstream: str | None) -> None:
    if upstream is None:
        handler = _handler(node_run, node_stream)
    else:
        channel = grpc.aio.insecure_channel(upstream)
        run, stream = channel.unary_unary(RUN), channel.unary_stream(STREAM)

        async def hop_run(code: bytes, context) -> bytes:
            return await run(code)

        async def hop_stream(code: bytes, context):
            call = stream(code)
            yield b'{"type": "started"}'  # as sessions does: when the call has left for the node
            async for message in call:
                yield message

        handler = _handler(hop_run, hop_stream)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("ready", flush=True)
    await server.wait_for_termination()


def edge_app(upstream: str) -> web.Application:
    state = {}

    async def open_channel(app):
        state["channel"] = grpc.aio.insecure_channel(upstream)
        yield
        await state["channel"].close()

    async def run(request: web.Request) -> web.Response:
        body = await request.json()
        reply = await state["channel"].unary_unary(RUN)(body["code"].encode())
        return web.json_response({"result": json.loads(reply)})

    async def stream(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        async for message in state["channel"].unary_stream(STREAM)(body["code"].encode()):
            await response.write(b"data: " + message + b"\n\n")
        return response

    app = web.Application()
    app.cleanup_ctx.append(open_channel)
    app.router.add_post("/run", run)
    app.router.add_post("/run/stream", stream)
    return app


class Floor:
    """The three processes on free ports, for `with Floor() as base_url:`."""

    def __enter__(self) -> str:
        from cli.dev import free_port

        node, hop, edge = free_port(), free_port(), free_port()
        self.procs = []
        for argv in (("node", node), ("hop", hop, f"127.0.0.1:{node}"), ("edge", edge, f"127.0.0.1:{hop}")):
            proc = subprocess.Popen([sys.executable, "-m", "bench.floor", *map(str, argv)], stdout=subprocess.PIPE,
                                    text=True, cwd=pathlib.Path(__file__).resolve().parent.parent)
            self.procs.append(proc)
            if proc.stdout.readline().strip() != "ready":
                self.__exit__()
                raise SystemExit(f"bench: the floor's {argv[0]} did not start")
        return f"http://127.0.0.1:{edge}"

    def __exit__(self, *_) -> None:
        for proc in self.procs:
            proc.terminate()
            proc.wait(timeout=10)


def main(role: str, port: str, upstream: str | None = None) -> None:
    if role == "edge":
        web.run_app(edge_app(upstream), host="127.0.0.1", port=int(port), print=lambda *_: print("ready", flush=True),
                    access_log=None)
    else:
        asyncio.run(serve_grpc(int(port), upstream if role == "hop" else None))


if __name__ == "__main__":
    main(*sys.argv[1:])
