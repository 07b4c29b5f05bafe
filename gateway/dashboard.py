"""The dashboard for humans at /dashboard, on the API's own origin, and the
agent skill at /skill.md.

Signing in (with an API key, or the device flow) puts the key in a cookie
that no script can read (HttpOnly), that no other site's request carries
(SameSite=Strict) and that only /dashboard sees (Path); HTTPS-only when the
edge is reached over HTTPS. The page's calls go to /dashboard/api/<the API's
path> with a header no other origin can send without a CORS preflight (none
is ever granted): the edge puts the cookie's key in Authorization and
answers as the API does, through the same transcoding — humans and agents
see the same data. The key itself never reaches the page."""
import json
import pathlib

from aiohttp import web
from yarl import URL

from gateway.transcode import status_json
from servicekit import config

PATH = "/dashboard"
API = PATH + "/api"
SKILL_PATH = "/skill.md"
COOKIE = "cerver_dashboard"
CSRF_HEADER = "X-Cerver-Dashboard"  # what the page sends on every call
COOKIE_MAX_AGE_S = 12 * 3600
PAGES = pathlib.Path(__file__).resolve().parent / "dashboard"
SKILL = pathlib.Path(__file__).resolve().parent / "skill.md"
ASSETS = {"app.js": "text/javascript", "app.css": "text/css"}
# The page runs its own script and style only, talks to its own origin
# only, and is never framed.
HEADERS = {"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' "
                                      "data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                                      "base-uri 'none'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
JSON = "application/json"


def skill_text() -> str:
    """spec/004's skill, its URLs this deployment's."""
    url = config.settings().public_url.rstrip("/")
    return SKILL.read_text().replace("https://gateway.cerver.ai", url).replace(
        "https://cerver.ai/dashboard", url + PATH).replace("https://cerver.ai/skill.md", url + SKILL_PATH)


class Dashboard:
    def __init__(self, call_api):
        """call_api: the edge's handler for an API request (it transcodes)."""
        self.call_api = call_api
        self.index = (PAGES / "index.html").read_bytes()
        self.assets = {name: (PAGES / name).read_bytes() for name in ASSETS}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PATH, self.page)
        app.router.add_get(PATH + "/", self.page)
        for name in ASSETS:
            app.router.add_get(f"{PATH}/{name}", self.asset)
        app.router.add_post(PATH + "/session", self.sign_in)
        app.router.add_delete(PATH + "/session", self.sign_out)
        app.router.add_route("*", API + r"/{tail:[\s\S]*}", self.api)
        app.router.add_get(SKILL_PATH, self.skill)

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(body=self.index, content_type="text/html", charset="utf-8", headers=HEADERS)

    async def asset(self, request: web.Request) -> web.Response:
        name = request.path.rsplit("/", 1)[1]
        return web.Response(body=self.assets[name], content_type=ASSETS[name], charset="utf-8", headers=HEADERS)

    async def skill(self, request: web.Request) -> web.Response:
        return web.Response(text=skill_text(), content_type="text/markdown", charset="utf-8")

    # -- signing in -----------------------------------------------------------
    async def sign_in(self, request: web.Request) -> web.StreamResponse:
        """{api_key} or {device_code} (a device login the page started): on
        success, the cookie and the account; the key is never answered."""
        refused = _not_the_page(request)
        if refused is not None:
            return refused
        try:
            # Read through a copy: aiohttp clones (for the API calls below)
            # only a request whose own body was never read.
            body = await request.clone().json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("api_key", body.get("device_code")), str):
            return _status(400, 3, "send {\"api_key\": \"ck_…\"} or {\"device_code\": \"…\"}")
        key = body.get("api_key", "")
        if "device_code" in body:
            polled = await self._internal(request, "GET", "/v2/auth/device", {"device_code": body["device_code"]})
            if polled.status != 200:
                return polled
            login = json.loads(polled.body)
            if login.get("status") != "approved":
                return web.json_response({"status": login.get("status"), "interval": login.get("interval")})
            key = login["api_key"]
        if not (key and key.isascii() and key.isprintable()):
            return _status(401, 16, "invalid or revoked API key")
        account = await self._internal(request, "GET", "/v2/auth/account", key=key)
        if account.status != 200:
            return account
        response = web.Response(body=account.body, content_type=JSON, headers={"Cache-Control": "no-store"})
        response.set_cookie(COOKIE, key, max_age=COOKIE_MAX_AGE_S, path=PATH, httponly=True, samesite="Strict",
                            secure=_https(request))
        return response

    async def sign_out(self, request: web.Request) -> web.Response:
        refused = _not_the_page(request)
        if refused is not None:
            return refused
        response = web.json_response({"signed_out": True})
        response.del_cookie(COOKIE, path=PATH)
        return response

    # -- the API, as the signed-in user ------------------------------------------
    async def api(self, request: web.Request) -> web.StreamResponse:
        refused = _not_the_page(request)
        if refused is not None:
            return refused
        key = request.cookies.get(COOKIE, "")
        if not key:
            return _status(401, 16, "not signed in to the dashboard")
        tail = request.raw_path[len(API):]
        if not tail.startswith("/v2/"):  # the API's paths only, nothing else the edge serves
            return _status(404, 5, f"{API} serves the API's /v2/ paths")
        return await self.call_api(request.clone(rel_url=URL(tail, encoded=True), headers={
            **{k: v for k, v in request.headers.items() if k.lower() not in ("cookie", "authorization")},
            "Authorization": f"Bearer {key}"}))

    async def _internal(self, request: web.Request, method: str, path: str, query: dict | None = None,
                        key: str = "") -> web.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return await self.call_api(request.clone(method=method, rel_url=URL(path).with_query(query or {}),
                                                 headers=headers))


def _not_the_page(request: web.Request) -> web.Response | None:
    """Only the dashboard's own script sends CSRF_HEADER: a form or a
    request from another site cannot (browsers preflight it, and nothing
    here answers a preflight)."""
    if request.headers.get(CSRF_HEADER) != "1":
        return _status(403, 7, f"dashboard calls carry the {CSRF_HEADER} header")
    return None


def _https(request: web.Request) -> bool:
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def _status(http_status: int, code: int, message: str) -> web.Response:
    return web.Response(status=http_status, body=status_json(code, message), content_type=JSON)
