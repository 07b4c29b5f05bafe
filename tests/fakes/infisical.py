"""A stand-in for Infisical's REST API (no cloud is reachable here), as its
documentation describes the two calls secret_fetch makes:
POST /api/v1/auth/universal-auth/login {clientId, clientSecret} ->
{accessToken, expiresIn, accessTokenMaxTTL, tokenType}, and
GET /api/v4/secrets/{secretName}?projectId&environment&secretPath with
`Authorization: Bearer <service token | access token>` -> {"secret": {...}}.
Errors come as Infisical sends them: {reqId, statusCode, message, error}.
A token is scoped to one project and environment, as Infisical's are."""
import dataclasses
import secrets

from aiohttp import web


@dataclasses.dataclass
class Project:
    project_id: str
    environment: str
    values: dict[str, str]


class FakeInfisical:
    def __init__(self, project: Project):
        self.project = project
        self.service_token = "st." + secrets.token_hex(8) + "." + secrets.token_hex(16)
        self.client_id, self.client_secret = secrets.token_hex(8), secrets.token_hex(16)
        self.access_tokens: set[str] = set()
        self.requests: list[tuple[str, str]] = []  # (method, path), for assertions

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/auth/universal-auth/login", self.login)
        app.router.add_get("/api/v4/secrets/{name}", self.secret)
        return app

    @staticmethod
    def _error(status: int, error: str, message: str) -> web.Response:
        return web.json_response({"reqId": "req-" + secrets.token_hex(6), "statusCode": status,
                                  "message": message, "error": error}, status=status)

    async def login(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        body = await request.json()
        if (body.get("clientId"), body.get("clientSecret")) != (self.client_id, self.client_secret):
            return self._error(401, "UnauthorizedError", "Invalid credentials")
        token = secrets.token_urlsafe(24)
        self.access_tokens.add(token)
        return web.json_response({"accessToken": token, "expiresIn": 7200, "accessTokenMaxTTL": 43200,
                                  "tokenType": "Bearer"})

    async def secret(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path))
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token != self.service_token and token not in self.access_tokens:
            return self._error(401, "UnauthorizedError", "Invalid token")
        q = request.query
        if (q.get("projectId"), q.get("environment")) != (self.project.project_id, self.project.environment):
            return self._error(403, "PermissionDenied", "You are not allowed to read secrets in this environment")
        name = request.match_info["name"]
        if q.get("secretPath", "/") != "/" or name not in self.project.values:
            return self._error(404, "NotFound", f"Secret with name '{name}' not found")
        return web.json_response({"secret": {
            "id": secrets.token_hex(12), "workspace": self.project.project_id, "environment": self.project.environment,
            "version": 1, "type": "shared", "secretKey": name, "secretValue": self.project.values[name],
            "secretComment": "", "secretPath": "/", "secretValueHidden": False, "tags": []}})
