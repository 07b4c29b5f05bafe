"""Stand-ins for the model vendors' APIs (no vendor is reachable here), as
their documentation describes what run-llm uses: Anthropic's Messages API
(POST /v1/messages, `x-api-key` or a bearer token, streamed as message_start,
content_block_start/delta/stop, message_delta, message_stop) and OpenAI's
Chat Completions (POST /v1/chat/completions, `Authorization: Bearer`,
streamed as chat.completion.chunk events, usage in the last, then [DONE]),
which xAI's API follows too. Errors come in each vendor's shape. The reply
echoes the last user message; every request is kept for assertions."""
import asyncio
import json
import secrets

import pytest
from aiohttp import web

from cli.dev import free_port

KEYS = {"anthropic": "sk-ant-test-1234567890", "openai": "sk-openai-test-0987654321", "xai": "xai-test-5555"}


class FakeVendor:
    def __init__(self, kind: str, key: str):
        self.kind, self.key = kind, key  # kind: anthropic | openai
        self.requests: list[dict] = []
        self.rate_limited = 0  # answer this many requests with a 429 first
        self.delay_s = 0.0
        self.overloaded_after: int | None = None  # fail mid-stream after this many pieces (Anthropic)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/messages" if self.kind == "anthropic" else "/v1/chat/completions", self.handle)
        return app

    def _error(self, status: int, kind: str, message: str, headers=None) -> web.Response:
        body = {"type": "error", "error": {"type": kind, "message": message}} if self.kind == "anthropic" else \
            {"error": {"message": message, "type": kind, "param": None, "code": kind}}
        return web.json_response(body, status=status, headers=headers)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        # Anthropic takes the key as x-api-key or (as its SDK 2.x sends it) a bearer token.
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        given = request.headers.get("x-api-key") or bearer if self.kind == "anthropic" else bearer
        if given != self.key:
            return self._error(401, "authentication_error" if self.kind == "anthropic" else "invalid_api_key",
                               "invalid x-api-key" if self.kind == "anthropic" else "Incorrect API key provided")
        body = await request.json()
        self.requests.append(body)
        if self.rate_limited:
            self.rate_limited -= 1
            return self._error(429, "rate_limit_error", "Rate limited: slow down", {"retry-after": "0"})
        await asyncio.sleep(self.delay_s)
        last = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
        words = f"echo: {last}".split(" ")
        pieces = [w + " " for w in words[:-1]] + [words[-1]]
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        tokens = sum(len(m["content"].split()) for m in body["messages"])
        if self.kind == "anthropic":
            await self._anthropic(response, body, pieces, tokens, fail_after=self.overloaded_after)
        else:
            await self._openai(response, body, pieces, tokens)
        await response.write_eof()
        return response

    @staticmethod
    async def _anthropic(response, body, pieces, input_tokens, fail_after=None):
        async def event(name, data):
            await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        await event("message_start", {"type": "message_start", "message": {
            "id": "msg_" + secrets.token_hex(6), "type": "message", "role": "assistant", "content": [],
            "model": body["model"], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": 1}}})
        await event("content_block_start", {"type": "content_block_start", "index": 0,
                                             "content_block": {"type": "text", "text": ""}})
        await event("ping", {"type": "ping"})
        for n, piece in enumerate(pieces):
            if n == fail_after:
                # Anthropic's documented error event, mid-stream (its "overloaded" outage).
                await event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
                return
            await event("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                 "delta": {"type": "text_delta", "text": piece}})
        await event("content_block_stop", {"type": "content_block_stop", "index": 0})
        await event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn",
                                                                         "stop_sequence": None},
                                      "usage": {"output_tokens": len(pieces)}})
        await event("message_stop", {"type": "message_stop"})

    @staticmethod
    async def _openai(response, body, pieces, input_tokens):
        base = {"id": "chatcmpl-" + secrets.token_hex(6), "object": "chat.completion.chunk", "created": 1,
                "model": body["model"]}

        async def chunk(**fields):
            await response.write(f"data: {json.dumps({**base, **fields})}\n\n".encode())
        await chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for piece in pieces:
            await chunk(choices=[{"index": 0, "delta": {"content": piece}, "finish_reason": None}])
        await chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])
        if body.get("stream_options", {}).get("include_usage"):
            await chunk(choices=[], usage={"prompt_tokens": input_tokens, "completion_tokens": len(pieces),
                                           "total_tokens": input_tokens + len(pieces)})
        await response.write(b"data: [DONE]\n\n")


@pytest.fixture
async def vendors(monkeypatch):
    """The three vendors' fakes, serving, with the SDKs pointed at them."""
    runners, fakes = [], {}
    for harness, kind in (("anthropic", "anthropic"), ("openai", "openai"), ("xai", "openai")):
        fake = FakeVendor(kind, KEYS[harness])
        runner = web.AppRunner(fake.app())
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        runners.append(runner)
        fakes[harness] = fake
        base = f"http://127.0.0.1:{port}" + ("" if kind == "anthropic" else "/v1")
        monkeypatch.setenv({"anthropic": "ANTHROPIC_BASE_URL", "openai": "OPENAI_BASE_URL",
                            "xai": "XAI_BASE_URL"}[harness], base)
        monkeypatch.setenv(f"{harness.upper()}_API_KEY", KEYS[harness])
    yield fakes
    for runner in runners:
        await runner.cleanup()
