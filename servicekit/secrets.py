"""Secrets backends (secret_fetch in cerver-mcp; model keys for run-llm): one
small interface, so that 1Password, AWS or GCP secret managers plug in
without touching what uses them. Values are fetched on each call: never
cached, logged or written anywhere."""
import os
from typing import Protocol

import aiohttp

from servicekit import config

TIMEOUT_S = 15.0


class SecretsError(ValueError):
    """A name that cannot be resolved, or a backend that cannot answer; its
    message names the cause, never a value."""


class Backend(Protocol):
    source: str  # what secret_fetch reports as the value's source

    async def fetch(self, name: str) -> str:
        """The value stored under exactly this name; SecretsError if none."""


class EnvBackend:
    """The process environment (the default: local development)."""
    source = "env"

    def __init__(self, environ=os.environ):
        self.environ = environ

    async def fetch(self, name: str) -> str:
        if name not in self.environ:
            raise SecretsError(f"no secret named {name!r} in the environment")
        return self.environ[name]


class InfisicalBackend:
    """An Infisical project's environment, through Infisical's REST API: a
    service or access token (INFISICAL_TOKEN), or a machine identity's
    universal auth (INFISICAL_CLIENT_ID + INFISICAL_CLIENT_SECRET), which is
    exchanged for an access token on each fetch (nothing kept)."""
    source = "infisical"

    def __init__(self, project_id: str, environment: str, token: str = "", client_id: str = "",
                 client_secret: str = "", url: str = config.default("infisical_api_url"), secret_path: str = "/"):
        self.project_id, self.environment, self.secret_path = project_id, environment, secret_path
        self.token, self.client_id, self.client_secret = token, client_id, client_secret
        self.url = url.rstrip("/")

    async def fetch(self, name: str) -> str:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as http:
            token = self.token or await self._login(http)
            params = {"projectId": self.project_id, "environment": self.environment, "secretPath": self.secret_path}
            try:
                async with http.get(f"{self.url}/api/v4/secrets/{aiohttp.helpers.quote(name, safe='')}",
                                    params=params, headers={"Authorization": f"Bearer {token}"}) as r:
                    if r.status == 404:
                        raise SecretsError(f"no secret named {name!r} in Infisical project {self.project_id} "
                                           f"({self.environment}, {self.secret_path})")
                    if r.status != 200:
                        raise SecretsError(f"Infisical refused to read {name!r}: {await _reason(r)}")
                    secret = (await r.json()).get("secret") or {}
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise SecretsError(f"Infisical at {self.url} did not answer ({exc.__class__.__name__})") from None
        if secret.get("secretKey") != name or not isinstance(secret.get("secretValue"), str):
            raise SecretsError(f"Infisical sent no value for {name!r}")
        return secret["secretValue"]

    async def _login(self, http: aiohttp.ClientSession) -> str:
        try:
            async with http.post(f"{self.url}/api/v1/auth/universal-auth/login",
                                 json={"clientId": self.client_id, "clientSecret": self.client_secret}) as r:
                if r.status != 200:
                    raise SecretsError(f"Infisical refused the machine identity's login: {await _reason(r)}")
                return (await r.json())["accessToken"]
        except (aiohttp.ClientError, TimeoutError, KeyError) as exc:
            raise SecretsError(f"Infisical at {self.url} did not log in ({exc.__class__.__name__})") from None


async def _reason(response: aiohttp.ClientResponse) -> str:
    """Infisical's own message ({"message": …}), else the status."""
    try:
        return str((await response.json(content_type=None)).get("message") or response.status)[:300]
    except (ValueError, AttributeError, aiohttp.ClientError):
        return str(response.status)


def from_env() -> Backend:
    """The backend CERVER_SECRETS_BACKEND names, configured from the
    settings; SecretsError when it cannot be (checked at start)."""
    try:
        current = config.settings()
    except config.SettingsError as exc:
        raise SecretsError(str(exc)) from None
    if current.secrets_backend == "env":
        return EnvBackend()
    token, client_secret = current.infisical_token.get_secret_value(), current.infisical_client_secret.get_secret_value()
    if not current.infisical_project_id or not (token or (current.infisical_client_id and client_secret)):
        raise SecretsError("CERVER_SECRETS_BACKEND=infisical needs INFISICAL_PROJECT_ID and INFISICAL_TOKEN "
                           "(or INFISICAL_CLIENT_ID and INFISICAL_CLIENT_SECRET of a machine identity)")
    return InfisicalBackend(current.infisical_project_id, current.infisical_environment, token,
                            current.infisical_client_id, client_secret, current.infisical_api_url,
                            current.infisical_secret_path)
