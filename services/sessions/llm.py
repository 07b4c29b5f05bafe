"""Model turns (run-llm) through the vendors' official SDKs: the API
harnesses anthropic (the `anthropic` SDK), openai and xai (the `openai`
SDK; xAI's API is OpenAI-compatible). Keys come from the deployment's
secrets backend by their conventional names, per call: never stored, never
in a transcript, a log or an error."""
import dataclasses
import pathlib
import re
import tomllib
from collections.abc import AsyncIterator

import anthropic
import grpc
import openai

from servicekit import config, errors, secrets

KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "xai": "XAI_API_KEY"}
CLI_HARNESSES = {"claude": "anthropic", "codex": "openai", "grok": "xai"}  # spec/004's, by vendor
BY_MODEL = ((re.compile(r"claude-"), "anthropic"), (re.compile(r"(gpt-|o\d)"), "openai"), (re.compile(r"grok-"), "xai"))
PRICES = tomllib.loads((pathlib.Path(__file__).parent / "llm_prices.toml").read_text())
HISTORY = 200  # transcript entries read back as the conversation
DEFAULT_MAX_TOKENS = 1024


@dataclasses.dataclass
class Turn:
    output: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    stop_reason: str = ""


def harness_for(model: str, session_harness: str) -> str:
    """The API harness: from the model's name, else the session's."""
    for pattern, harness in BY_MODEL:
        if pattern.match(model):
            return harness
    harness = CLI_HARNESSES.get(session_harness, session_harness)
    if harness in KEYS:
        return harness
    raise errors.invalid(f"no harness for model {model!r}: name a claude-*, gpt-*, o*, or grok-* model, or give "
                         f"the session a harness (anthropic, openai, xai)", "model")


def cost_usd(harness: str, model: str, turn: Turn) -> float:
    """From the price table (0 for a model it does not list)."""
    names = [name for name in PRICES.get(harness, {}) if model.startswith(name)]
    if not names:
        return 0.0
    price = PRICES[harness][max(names, key=len)]
    return (turn.input_tokens * price["input"] + turn.output_tokens * price["output"]) / 1_000_000


def conversation(history, system: str) -> tuple[str, list[dict]]:
    """The transcript's text entries as a conversation: system entries (and
    the turn's own instructions) as the system prompt; user and assistant
    messages alternating, as the vendors want them (same-role neighbours
    joined), starting with the user."""
    prompts, messages = [e.content for e in history if e.role == "system" and e.kind == "text"], []
    for e in history:
        if e.kind != "text" or e.role not in ("user", "assistant") or not e.content.strip():
            continue
        if messages and messages[-1]["role"] == e.role:
            messages[-1]["content"] += "\n\n" + e.content
        elif messages or e.role == "user":
            messages.append({"role": e.role, "content": e.content})
    return "\n\n".join([*prompts, system] if system else prompts), messages


async def _key(harness: str) -> str:
    name = KEYS[harness]
    backend = secrets.from_env()
    try:
        return await backend.fetch(name)
    except secrets.SecretsError:
        raise errors.ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                                  f"run-llm on {harness} needs {name}: set it in this deployment's secrets backend "
                                  f"({backend.source})") from None


def _openai(harness: str, key: str) -> openai.AsyncOpenAI:
    base = config.settings().xai_base_url if harness == "xai" else None
    return openai.AsyncOpenAI(api_key=key, base_url=base, timeout=config.settings().llm_timeout_s)


async def stream(harness: str, model: str, system: str, messages: list[dict],
                 max_tokens: int) -> AsyncIterator[str | Turn]:
    """The reply's text as it comes, then the whole Turn."""
    key = await _key(harness)
    turn, parts = Turn(), []
    with _vendor_errors(harness, key):
        if harness == "anthropic":
            client = anthropic.AsyncAnthropic(api_key=key, timeout=config.settings().llm_timeout_s)
            extra = {"system": system} if system else {}
            async with client.messages.stream(model=model, max_tokens=max_tokens, messages=messages,
                                              **extra) as response:
                async for text in response.text_stream:
                    parts.append(text)
                    yield text
                final = await response.get_final_message()
            turn.input_tokens, turn.output_tokens = final.usage.input_tokens, final.usage.output_tokens
            turn.stop_reason = final.stop_reason or ""
        else:
            client = _openai(harness, key)
            chat = ([{"role": "system", "content": system}] if system else []) + messages
            chunks = await client.chat.completions.create(model=model, messages=chat, max_completion_tokens=max_tokens,
                                                          stream=True, stream_options={"include_usage": True})
            async for chunk in chunks:
                for choice in chunk.choices:
                    if choice.delta.content:
                        parts.append(choice.delta.content)
                        yield choice.delta.content
                    if choice.finish_reason:
                        turn.stop_reason = choice.finish_reason
                if chunk.usage is not None:
                    turn.input_tokens, turn.output_tokens = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
    turn.output = "".join(parts)
    yield turn


class _vendor_errors:
    """A vendor's failure as the contract's: its refusal of the key (never
    the key), its rate limit, its timeout, its outage."""

    def __init__(self, harness: str, key: str):
        self.harness, self.key = harness, key

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if exc is None or not isinstance(exc, (anthropic.APIError, openai.APIError)):
            return False
        said = str(getattr(exc, "message", "") or exc).replace(self.key, "[key]")[:500]
        name = KEYS[self.harness]
        if isinstance(exc, (anthropic.AuthenticationError, openai.AuthenticationError,
                            anthropic.PermissionDeniedError, openai.PermissionDeniedError)):
            raise errors.ServiceError(grpc.StatusCode.FAILED_PRECONDITION,
                                      f"{self.harness} refused {name}: {said}") from None
        if isinstance(exc, (anthropic.RateLimitError, openai.RateLimitError)):
            raise errors.exhausted(f"{self.harness} is rate limiting this deployment (after retries): {said}") \
                from None
        if isinstance(exc, (anthropic.APITimeoutError, openai.APITimeoutError)):
            raise errors.ServiceError(grpc.StatusCode.DEADLINE_EXCEEDED,
                                      f"{self.harness} did not answer within {config.settings().llm_timeout_s:g} s") from None
        if isinstance(exc, (anthropic.BadRequestError, openai.BadRequestError, anthropic.NotFoundError,
                            openai.NotFoundError)):
            raise errors.invalid(f"{self.harness} refused the turn: {said}", "model") from None
        raise errors.unavailable(f"{self.harness} failed the turn: {said}") from None
