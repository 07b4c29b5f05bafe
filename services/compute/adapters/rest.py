"""Calls to a vendor's REST API, for the adapters without an official
Python SDK: one retry policy, and the vendor's failures as the sandbox
contract's (credentials refused, not found, rate limited, down)."""
import contextlib
import email.utils
import io
import ipaddress
import socket
import time
from urllib.parse import urlsplit

import aiohttp
import tenacity
from aiohttp.abc import AbstractResolver

from servicekit import config
from services.compute.adapters.base import ComputeUnreachable, SandboxGone, SandboxRefused
from services.compute.adapters.remote import too_large

ATTEMPTS = 4
MAX_RETRY_AFTER_S = 20.0  # a vendor asking for longer is answered "busy" instead


class Retryable(Exception):
    def __init__(self, status: int, retry_after: float | None, message: str):
        super().__init__(message)
        self.status, self.retry_after = status, retry_after


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("Retry-After", "")
    if value.isdigit():
        return float(value)
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    return None


_BACKOFF = tenacity.wait_exponential_jitter(multiplier=0.2, max=5.0)


def _wait(state: tenacity.RetryCallState) -> float:
    """The vendor's Retry-After when it gives one, else exponential."""
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, Retryable) and exc.retry_after is not None:
        return min(exc.retry_after, MAX_RETRY_AFTER_S)
    return _BACKOFF(state)


def _retryable(idempotent: bool):
    """429 is always retried (the call did nothing); a 5xx or a broken
    connection only when repeating the call is harmless."""
    def check(exc: BaseException) -> bool:
        if isinstance(exc, Retryable):
            return exc.status == 429 or idempotent
        if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, NotPublic):
            return False  # asking again resolves the same
        return idempotent and isinstance(exc, (aiohttp.ClientConnectionError, TimeoutError))
    return check


class NotPublic(OSError):
    """A name that resolves to no public address."""


class PublicResolver(AbstractResolver):
    """Names resolved to public addresses only: an account's own endpoint (a
    Worker) must not lead this deployment to its internal services; checked
    on the address actually connected to, so DNS rebinding does not help."""

    def __init__(self):
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET):
        found = [r for r in await self._inner.resolve(host, port, family)
                 if ipaddress.ip_address(r["host"]).is_global]
        if not found:
            raise NotPublic(f"{host} does not resolve to a public address")
        return found

    async def close(self) -> None:
        await self._inner.close()


def retrying(should_retry) -> tenacity.AsyncRetrying:
    """The one retry policy of calls to vendors: ATTEMPTS tries, the vendor's
    Retry-After or exponential backoff with jitter between them;
    should_retry(exception) says which failures are worth another try."""
    return tenacity.AsyncRetrying(stop=tenacity.stop_after_attempt(ATTEMPTS), wait=_wait,
                                  retry=tenacity.retry_if_exception(should_retry), reraise=True)


class VendorAPI:
    def __init__(self, vendor: str, base_url: str = "", public_only: bool = False):
        """base_url: the vendor's; empty when each account has its own
        (public_only: then it must be https to a public address, unless the
        deployment allows private ones)."""
        self.vendor = vendor
        self.base_url = base_url.rstrip("/")
        self.public_only = public_only and not config.settings().cloud_private_urls
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=PublicResolver()) if self.public_only else None
            self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=10, sock_read=config.settings().cloud_timeout_s))
        return self._session

    def url(self, base_url: str, path: str) -> str:
        base = (base_url or self.base_url).rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ComputeUnreachable(f"{self.vendor}'s URL is not an http(s) URL")
        if self.public_only:
            if parts.scheme != "https":
                raise ComputeUnreachable(f"{self.vendor}'s URL must be https")
            with contextlib.suppress(ValueError):  # an address is not resolved, so is checked here
                if not ipaddress.ip_address(parts.hostname).is_global:
                    raise ComputeUnreachable(f"{self.vendor}'s URL must name a public address")
        return base + path

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    @contextlib.asynccontextmanager
    async def call(self, method: str, path: str, *, idempotent: bool, what: str = "", timeout: float | None = None,
                   base_url: str = "", **kwargs):
        """The vendor's response (status < 400) to method path, retried by
        the policy; what names the thing a 404 is about ("" = the sandbox)."""
        body = kwargs.pop("data", None)
        try:
            async for attempt in retrying(_retryable(idempotent)):
                with attempt:
                    response = await self.session().request(
                        method, self.url(base_url, path),
                        timeout=aiohttp.ClientTimeout(total=timeout or config.settings().cloud_timeout_s),
                        # bytes as a stream (not held on the loop), afresh for each attempt
                        data=io.BytesIO(body) if isinstance(body, bytes) else body, **kwargs)
                    if response.status == 429 or response.status >= 500:
                        message = await self._message(response)
                        response.release()
                        raise Retryable(response.status, _retry_after(response), message)
        except Retryable as exc:
            if exc.status == 429:
                raise SandboxGone(f"{self.vendor} is rate limiting this account (429): {exc}") from None
            raise SandboxGone(f"{self.vendor} failed ({exc.status}): {exc}") from None
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, NotPublic):
                raise ComputeUnreachable(f"{self.vendor}'s URL must name a public address") from None
            raise SandboxGone(f"{self.vendor} did not answer ({type(exc).__name__}: {exc})") from None
        except (aiohttp.ClientConnectionError, TimeoutError, OSError) as exc:
            raise SandboxGone(f"{self.vendor} did not answer ({type(exc).__name__}: {exc})") from None
        if response.status >= 400:
            message = await self._message(response)
            response.release()
            if response.status in (401, 403):
                raise ComputeUnreachable(f"{self.vendor} refused this account's credentials ({response.status}: "
                                         f"{message}); update them with POST /v2/account/providers")
            if response.status in (404, 410):
                raise SandboxRefused(f"{what or 'the sandbox'} is not there ({self.vendor}: {message})",
                                     not_found=True)
            raise SandboxRefused(f"{self.vendor} refused the request ({response.status}: {message})")
        try:
            yield response
        finally:
            response.release()

    @staticmethod
    async def file(response: aiohttp.ClientResponse, path: str) -> bytes:
        """A file's bytes from the response, refused (too_large) once past
        what a file call returns, without holding more."""
        data = bytearray()
        async for chunk in response.content.iter_chunked(1 << 16):
            data += chunk
            if len(data) > config.MAX_FILE_BYTES:
                raise too_large(path)
        return bytes(data)

    @staticmethod
    async def _message(response: aiohttp.ClientResponse) -> str:
        """The vendor's own error message, short (never the request)."""
        try:
            body = await response.json(content_type=None)
        except (ValueError, aiohttp.ClientError):
            return response.reason or ""
        error = body.get("error", body) if isinstance(body, dict) else body
        if isinstance(error, dict):
            error = error.get("message") or error.get("code") or ""
        return str(error)[:300]
