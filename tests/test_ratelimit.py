"""Rate limits on the live stack: sign-in, device flow, failed keys per
client, requests per key; each a 429 with Retry-After and a JSON body that
names the limit."""
import contextlib
import uuid


@contextlib.contextmanager
def limited(limits, **values):
    saved = dict(limits.items)
    for name, value in values.items():
        limits.set(name, value)
    try:
        yield
    finally:
        limits.items = saved


def assert_limited(result, name):
    status, body, text, headers = result
    assert status == 429 and int(headers["Retry-After"]) >= 1, text
    violation = next(d for d in body["details"] if d["@type"].endswith("QuotaFailure"))["violations"][0]
    assert violation["subject"] == f"rate:{name}", violation


async def test_sign_in_is_rate_limited_per_address_and_per_client(stack):
    api = stack.api
    limits = stack.hosts["auth"].handlers[0].accounts.limits
    email = f"popular-{uuid.uuid4().hex[:6]}@example.com"
    with limited(limits, login="3/minute"):
        for _ in range(3):
            status, _, text, _ = await api.call("POST", "/v2/auth/login", {"email": email, "code": "000000"})
            assert status == 401, text
        assert_limited(await api.call("POST", "/v2/auth/login", {"email": email, "code": "123456"}), "login")


async def test_device_flow_is_rate_limited_per_client(stack):
    api = stack.api
    limits = stack.hosts["auth"].handlers[0].accounts.limits
    with limited(limits, device="2/minute"):
        for _ in range(2):
            assert (await api.call("POST", "/v2/auth/device", {"client_name": "x"}))[0] == 200
        assert_limited(await api.call("POST", "/v2/auth/device", {"client_name": "x"}), "device")


async def test_a_client_guessing_keys_is_stopped_and_per_key_rate_holds(stack):
    api = stack.api
    key = await api.login()
    limits = stack.hosts["sessions"].authenticator.limits
    status, s, text, _ = await api.call("POST", "/v2/sessions", {"requirements": {"runtime": "shell"}}, key=key)
    sid = s["session_id"]
    compute_limits = stack.hosts["compute"].authenticator.limits
    with limited(limits, auth_failures="3/minute", key="5/minute"), limited(compute_limits, key="1/minute"):
        # A key is counted once per request, where it enters: a run crosses
        # sessions and compute with the caller's key, and compute does not count it.
        for _ in range(5):
            status, _, text, _ = await api.call("POST", f"/v2/sessions/{sid}/run", {"code": "true"}, key=key)
            assert status == 200, text
        assert_limited(await api.call("GET", "/v2/sessions", key=key), "key")
        for i in range(3):
            status, _, _, _ = await api.call("GET", "/v2/sessions", key=f"ck_guess{i}{uuid.uuid4().hex}")
            assert status == 401
        # Past the limit the client is refused before its guess is even looked up.
        assert_limited(await api.call("GET", "/v2/sessions", key=f"ck_guess{uuid.uuid4().hex}"), "auth_failures")
