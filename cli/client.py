"""The `cerver` command's side of the REST API: where it is and with which
key (--url, then CERVER_API_URL, then what `cerver login` saved; the key
from CERVER_API_TOKEN, else the saved one), calls with the API's errors
raised as they were said, and server-sent event streams read as they come."""
import json
import os
import pathlib
import urllib.parse
from collections.abc import Iterator

import httpx

from servicekit import config

DEFAULT_URL = "http://127.0.0.1:8080"  # `make dev`'s edge
TIMEOUT_S = 60.0


class ApiError(Exception):
    """What the API answered instead (its google.rpc.Status message)."""

    def __init__(self, status: int, message: str, code: int = 0):
        super().__init__(message)
        self.status, self.code = status, code


def config_path() -> pathlib.Path:
    return pathlib.Path(os.environ.get("XDG_CONFIG_HOME") or pathlib.Path.home() / ".config") / "cerver" / \
        "config.json"


def saved() -> dict:
    path = config_path()
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except ValueError:
        return {}


def save(url: str, api_key: str) -> pathlib.Path:
    """The key where only this user can read it (0600 in a 0700 folder),
    replaced whole so that no reader ever sees half of it."""
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": url, "api_key": api_key}, f)
    tmp.replace(path)
    return path


def forget() -> bool:
    path = config_path()
    if path.exists():
        path.unlink()
        return True
    return False


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


class Api:
    def __init__(self, url: str | None = None, key: str | None = None):
        stored = saved()
        self.url = (url or config.settings().api_url or stored.get("url") or DEFAULT_URL).rstrip("/")
        # A saved key goes only to the gateway it was issued by.
        same_gateway = stored.get("url", "").rstrip("/") == self.url
        self.key = key if key is not None else (config.settings().api_token.get_secret_value()
                                                or (stored.get("api_key", "") if same_gateway else ""))
        self.http = httpx.Client(base_url=self.url, timeout=httpx.Timeout(TIMEOUT_S, read=None))

    def _headers(self, auth: bool) -> dict:
        if not auth:
            return {}
        if not self.key:
            raise ApiError(401, f"not logged in to {self.url}: run `cerver login` (or set CERVER_API_TOKEN)", 16)
        return {"Authorization": f"Bearer {self.key}"}

    def call(self, method: str, path: str, body=None, auth: bool = True, **params) -> dict:
        try:
            r = self.http.request(method, path, json=body, params=_query(params), headers=self._headers(auth))
        except httpx.HTTPError as exc:
            raise self._unanswered(exc) from None
        return _answer(r)

    def stream(self, method: str, path: str, body=None, **params) -> Iterator[dict]:
        """A server-sent event stream's events, as they come; an error the
        stream ends with (event: error) is raised."""
        headers = {**self._headers(True), "Accept": "text/event-stream"}
        try:
            with self.http.stream(method, path, json=body, params=_query(params), headers=headers) as r:
                if r.status_code != 200:
                    r.read()
                    _answer(r)
                kind = "message"
                for line in r.iter_lines():
                    if line.startswith("event:"):
                        kind = line[6:].strip()
                    elif line.startswith("data:"):
                        data = json.loads(line[5:])
                        if kind == "error":
                            raise ApiError(500, data.get("message", "the stream failed"), data.get("code", 0))
                        yield data
                    elif not line:
                        kind = "message"
        except httpx.HTTPError as exc:
            raise self._unanswered(exc) from None

    def _unanswered(self, exc: httpx.HTTPError) -> ApiError:
        return ApiError(0, f"Cerver at {self.url} did not answer ({exc.__class__.__name__}: {exc})")


def _query(params: dict) -> dict:
    """Query parameters as the API reads them (booleans as true/false; unset ones left out)."""
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items() if v is not None}


def _answer(r: httpx.Response) -> dict:
    try:
        body = r.json()
    except ValueError:
        body = None
    if r.status_code != 200:
        message = body.get("message") if isinstance(body, dict) else None
        code = body.get("code", 0) if isinstance(body, dict) else 0
        raise ApiError(r.status_code, message or f"HTTP {r.status_code}", code)
    return body if isinstance(body, dict) else {}
