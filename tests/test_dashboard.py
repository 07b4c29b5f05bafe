"""The dashboard in a real browser: Debian's headless Chromium driven by
Playwright against a live stack, each page checked by axe-core (WCAG 2 A and
AA: labels, contrast, keyboard names) and kept as a screenshot under
artifacts/dashboard/."""
import asyncio
import pathlib
import re

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import async_playwright, expect

from tests.conftest import running_stack

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = pathlib.Path(__file__).resolve().parent.parent / "artifacts" / "dashboard"
# As this machine's browser runs: no sandbox as root, nothing reaching for the network on its own.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
PAGES = ("overview", "computes", "sessions", "providers", "keys", "settings", "skill")
expect.set_options(timeout=20_000)


@pytest.fixture
async def browser():
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            await browser.close()


async def accessible(page, name: str) -> None:
    """No serious or critical WCAG 2 A/AA finding on the page as it is; a screenshot kept."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    results = await Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]}})
    found = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in results.response["violations"]
             if v["impact"] in ("serious", "critical")]
    assert not found, (name, found)


async def sign_in(page, base: str, key: str) -> None:
    await page.goto(f"{base}/dashboard")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Overview")


async def test_sign_in_open_a_session_run_and_watch_the_transcript(tmp_path, browser):
    async with running_stack(tmp_path / "stack") as stack:
        api = stack.api
        key = await api.login()
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{api.base}/dashboard")
        await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
        await accessible(page, "signin")
        # Keyboard: the view's heading has the focus; the next stop is the form's field.
        assert await page.evaluate("document.activeElement.tagName") == "H1"
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.name") == "api_key"

        # A wrong key is refused in the form; the right one signs in.
        await page.get_by_label("API key").fill("ck_not-a-key")
        await page.get_by_role("button", name="Sign in", exact=True).click()
        await expect(page.get_by_role("alert")).to_contain_text("invalid or revoked API key")
        await sign_in(page, api.base, key)
        # The key is in a cookie no script reads, sent to /dashboard only, never cross-site.
        cookie = next(c for c in await page.context.cookies() if c["name"] == "cerver_dashboard")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/dashboard"
        assert "cerver_dashboard" not in await page.evaluate("document.cookie")
        assert key not in await page.content()

        # Open a session, run code, see its output and the transcript follow.
        await page.get_by_role("link", name="Sessions").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Sessions")
        await page.get_by_label("Name", exact=True).first.fill("from the dashboard")
        await page.get_by_role("button", name="New session").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Session")
        await expect(page.locator("[data-fact=status]")).to_have_text(re.compile("ready|idle"))
        sid = await page.locator("[data-fact=id]").inner_text()
        await page.get_by_label("Code").fill("echo hello-from-the-dashboard")
        await page.get_by_role("button", name="Run", exact=True).click()
        output = page.get_by_label("Output of the last run")
        await expect(output).to_contain_text("hello-from-the-dashboard")
        await expect(output).to_contain_text("[exit 0]")
        transcript = page.get_by_label("Transcript")
        await expect(transcript).to_contain_text("echo hello-from-the-dashboard")
        # Another agent writes to the session: the page shows it without being reloaded.
        status, _, text, _ = await api.call("POST", f"/v2/sessions/{sid}/input",
                                            {"content": "a sibling agent was here", "role": "assistant"}, key=key)
        assert status == 200, text
        await expect(transcript).to_contain_text("a sibling agent was here")
        await accessible(page, "session")
        # Pause from the page; the session says so.
        await page.get_by_role("button", name="Pause").click()
        await expect(page.locator("[data-fact=status]")).to_have_text("paused")

        # Every page, as a signed-in user sees it.
        for name in PAGES:
            await page.goto(f"{api.base}/dashboard#/{name}")
            await expect(page.locator("main p", has_text="Loading…")).to_have_count(0)
            await expect(page.locator("[role=alert]:not(:empty)")).to_have_count(0)
            await accessible(page, name)

        # Sessions: the filters by state and compute, and search over transcripts.
        await page.goto(f"{api.base}/dashboard#/sessions?state=idle")
        await expect(page.get_by_role("link", name="from the dashboard")).to_have_count(0)
        _, s, _, _ = await api.call("GET", f"/v2/sessions/{sid}", key=key)
        await page.goto(f"{api.base}/dashboard#/sessions?compute={s['compute_id']}")
        await expect(page.get_by_role("link", name="from the dashboard")).to_have_count(1)
        await page.goto(f"{api.base}/dashboard#/sessions?compute=comp_elsewhere")
        await expect(page.get_by_text("No sessions match.")).to_have_count(1)
        await page.goto(f"{api.base}/dashboard#/sessions?q=sibling")
        await expect(page.get_by_role("link", name="from the dashboard")).to_have_count(1)

        # Keys: created, shown once, deleted.
        await page.goto(f"{api.base}/dashboard#/keys")
        await page.get_by_label("Name").fill("from-the-browser")
        await page.get_by_role("button", name="Create key").click()
        new_key = await page.locator("[data-new-key]").inner_text()
        assert (await api.call("GET", "/v2/auth/account", key=new_key))[0] == 200
        page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
        await page.get_by_role("row", name=re.compile("from-the-browser")).get_by_role(
            "button", name=re.compile("^Delete key")).click()
        await expect(page.get_by_role("row", name=re.compile("from-the-browser"))).to_have_count(0)

        # Providers: the form takes each provider's credential names from the API's document.
        await page.goto(f"{api.base}/dashboard#/providers")
        await page.get_by_label("Provider", exact=True).select_option("modal")
        await expect(page.get_by_label("token_secret")).to_have_attribute("type", "password")
        await page.get_by_label("token_id").fill("ak-1")
        await page.get_by_label("token_secret").fill("as-secret-value")
        await page.get_by_role("button", name="Enable").click()
        await expect(page.get_by_role("button", name="Disable")).to_have_count(1)
        assert "as-secret-value" not in await page.content()

        # Signing out forgets the cookie.
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
        assert not [c for c in await page.context.cookies() if c["name"] == "cerver_dashboard"]


async def test_signing_in_with_the_device_flow_never_shows_the_key(tmp_path, browser):
    async with running_stack(tmp_path / "stack") as stack:
        api = stack.api
        key = await api.login()
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{api.base}/dashboard")
        await page.get_by_role("button", name="Sign in with a code instead").click()
        code = await page.locator("strong").first.inner_text()
        # Approved from a dashboard signed in elsewhere, which shows what is asking first.
        approver = await (await browser.new_context()).new_page()
        await sign_in(approver, api.base, key)
        await approver.goto(f"{api.base}/dashboard#/computes")
        await expect(approver.get_by_role("heading", level=1)).to_have_text("Computes")
        await approver.get_by_label("Code shown on the device").fill(code)
        await approver.get_by_role("button", name="Look up").click()
        await expect(approver.get_by_text("the Cerver dashboard")).to_have_count(1)
        await approver.get_by_role("button", name="Approve", exact=True).click()
        await expect(approver.get_by_role("status").filter(has_text="Approved")).to_have_count(1)
        await expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
        _, account, _, _ = await api.call("GET", "/v2/auth/account", key=key)
        await expect(page.get_by_text(account["account_id"])).to_have_count(1)
        assert "ck_" not in await page.content()


async def test_a_view_still_loading_never_replaces_the_one_asked_for_after_it(api, browser):
    """Overview's listing held back while the reader moves on to Computes:
    when it finally answers, Computes stays on screen."""
    key = await api.login()
    page = await (await browser.new_context()).new_page()
    await sign_in(page, api.base, key)
    held = asyncio.Event()

    async def hold(route):
        await held.wait()
        await route.continue_()
    await page.route(re.compile(r"/dashboard/api/v2/sessions\b"), hold)
    for view in ("settings", "overview", "computes"):  # Overview left loading
        await page.goto(f"{api.base}/dashboard#/{view}")
    await expect(page.get_by_role("button", name="Look up")).to_have_count(1)
    held.set()
    await page.unroute_all(behavior="wait")
    await page.wait_for_load_state("networkidle")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Computes")
    await expect(page.get_by_role("button", name="Look up")).to_have_count(1)


async def test_the_dashboards_api_refuses_what_another_site_could_send(api):
    """Without the page's own header (which another origin cannot send
    without a preflight nothing grants), the cookie's key is not used."""
    key = await api.login()
    status, err, text, _ = await api.call("POST", "/dashboard/session", {"api_key": key})
    assert status == 403 and err["code"] == 7, text
    page = {"X-Cerver-Dashboard": "1"}
    status, account, text, headers = await api.call("POST", "/dashboard/session", {"api_key": key}, headers=page)
    assert status == 200 and key not in text and "HttpOnly" in headers["Set-Cookie"], text
    cookie = {"Cookie": f"cerver_dashboard={key}"}
    assert (await api.call("GET", "/dashboard/api/v2/auth/account", headers=cookie))[0] == 403
    status, mine, _, _ = await api.call("GET", "/dashboard/api/v2/auth/account", headers={**cookie, **page})
    assert status == 200 and mine["account_id"] == account["account_id"]
    assert (await api.call("GET", "/dashboard/api/v2/auth/account", headers=page))[0] == 401
    for elsewhere in ("/dashboard/api/", "/dashboard/api/mcp", "/dashboard/api/../v2/auth/account"):
        assert (await api.call("GET", elsewhere, headers={**cookie, **page}))[0] == 404, elsewhere
    status, err, _, _ = await api.call("POST", "/dashboard/session", {"api_key": "ck_\nX-Evil: 1"}, headers=page)
    assert status == 401 and err["code"] == 16
    status, _, html, headers = await api.call("GET", "/dashboard")
    assert status == 200 and "script-src 'self'" in headers["Content-Security-Policy"] and "<main" in html
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]


async def test_the_skill_is_served_with_this_deployments_url(api):
    status, _, text, headers = await api.call("GET", "/skill.md")
    assert status == 200 and headers["Content-Type"].startswith("text/markdown")
    assert text.startswith("---\nname: cerver") and "https://gateway.cerver.ai" not in text
    assert "Base URL: `http://127.0.0.1:8080`" in text
    assert (await api.call("POST", "/skill.md", {}))[0] == 405
