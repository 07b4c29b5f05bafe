"""Auth over REST and gRPC: login, keys, revocation, device login, account providers."""
import asyncio
import sqlite3
import urllib.parse
import uuid

import grpc
import pytest

from cerver.v2 import auth_pb2, auth_pb2_grpc


async def test_login_account_and_keys(api):
    key = await api.login()
    assert key.startswith("ck_") and len(key) > 40
    status, account, _, _ = await api.call("GET", "/v2/auth/account", key=key)
    assert status == 200 and account["email"].endswith("@example.com") and account["account_id"].startswith("acct_")

    status, created, _, _ = await api.call("POST", "/v2/auth/keys", {"name": "ci"}, key=key)
    assert status == 200 and created["api_key"].startswith("ck_") and created["api_key"].startswith(created["prefix"])
    status, listed, _, _ = await api.call("GET", "/v2/auth/keys", key=key)
    prefixes = [k["prefix"] for k in listed["keys"]]
    assert created["prefix"] in prefixes and all("api_key" not in k for k in listed["keys"])



async def test_revoked_key_stops_working_within_seconds(api):
    key = await api.login()
    status, created, _, _ = await api.call("POST", "/v2/auth/keys", {"name": "temp"}, key=key)
    temp = created["api_key"]
    assert (await api.call("GET", "/v2/sessions", key=temp))[0] == 200
    status, _, text, _ = await api.call("DELETE", f"/v2/auth/keys/{created['prefix']}", key=key)
    assert status == 200, text
    for _ in range(40):  # the cache holds a key for at most 5 s
        if (await api.call("GET", "/v2/sessions", key=temp))[0] == 401:
            break
        await asyncio.sleep(0.25)
    else:
        pytest.fail("revoked key still accepted after 10 s")


async def test_missing_and_wrong_keys_are_401_with_json(api):
    for key in (None, "ck_nope", "not-even-ck"):
        status, body, _, _ = await api.call("GET", "/v2/auth/account", key=key)
        assert status == 401 and body["code"] == 16 and body["message"]


async def test_another_accounts_key_prefix_is_404(api):
    a, b = await api.login(), await api.login()
    _, keys, _, _ = await api.call("GET", "/v2/auth/keys", key=a)
    status, _, _, _ = await api.call("DELETE", f"/v2/auth/keys/{keys['keys'][0]['prefix']}", key=b)
    assert status == 404


async def test_keys_are_stored_only_as_hashes(stack):
    key = await stack.api.login()
    if stack.env["CERVER_DATABASE_URL"]:
        import psycopg

        with psycopg.connect(stack.env["CERVER_DATABASE_URL"]) as conn:
            rows = conn.execute("SELECT * FROM auth_api_key").fetchall()
    else:
        with sqlite3.connect(f"{stack.env['CERVER_DATA_DIR']}/auth.db") as conn:
            rows = conn.execute("SELECT * FROM auth_api_key").fetchall()
    dump = repr(rows)
    assert key[:12] in dump and key not in dump and key[12:] not in dump


async def test_device_login_flow(api):
    approver = await api.login()
    status, dev, _, _ = await api.call("POST", "/v2/auth/device", {"client_name": "laptop"})
    assert status == 200 and dev["device_code"] and len(dev["user_code"]) == 9 and dev["interval"] >= 1
    assert dev["expires_in"] > 0 and dev["verification_uri"].startswith("http")
    # The verification URI is a page a person can open: it approves through the API.
    page = urllib.parse.urlsplit(dev["verification_uri_complete"])
    assert page.path == "/device" and urllib.parse.parse_qs(page.query)["user_code"] == [dev["user_code"]]
    status, _, html, headers = await api.call("GET", "/device")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "/v2/auth/approve" in html and "user_code" in html
    poll = f"/v2/auth/device?device_code={dev['device_code']}"
    status, first, _, _ = await api.call("GET", poll)
    assert status == 200 and first["status"] == "pending" and not first["api_key"]
    status, fast, _, _ = await api.call("GET", poll)
    assert fast["status"] == "slow_down" and fast["interval"] > first["interval"]

    status, _, _, _ = await api.call("POST", "/v2/auth/approve", {"user_code": dev["user_code"]})
    assert status == 401  # approving needs a signed-in user
    status, approved, text, _ = await api.call("POST", "/v2/auth/approve", {"user_code": dev["user_code"].lower()},
                                               key=approver)
    assert status == 200 and approved["status"] == "approved" and approved["client_name"] == "laptop", text

    await asyncio.sleep(fast["interval"])
    status, done, _, _ = await api.call("GET", poll)
    assert done["status"] == "approved" and done["api_key"].startswith("ck_")
    _, mine, _, _ = await api.call("GET", "/v2/auth/account", key=approver)
    _, theirs, _, _ = await api.call("GET", "/v2/auth/account", key=done["api_key"])
    assert mine["account_id"] == theirs["account_id"] == done["account_id"]

    await asyncio.sleep(fast["interval"])
    status, after, _, _ = await api.call("GET", poll)
    assert after["status"] == "expired" and not after["api_key"]  # delivered exactly once
    status, _, _, _ = await api.call("POST", "/v2/auth/approve", {"user_code": dev["user_code"]}, key=approver)
    assert status == 404  # single use


async def test_device_login_denied(api):
    approver = await api.login()
    _, dev, _, _ = await api.call("POST", "/v2/auth/device", {})
    status, denied, _, _ = await api.call("POST", "/v2/auth/approve", {"user_code": dev["user_code"], "deny": True},
                                          key=approver)
    assert denied["status"] == "denied"
    _, polled, _, _ = await api.call("GET", f"/v2/auth/device?device_code={dev['device_code']}")
    assert polled["status"] == "denied" and not polled["api_key"]
    status, _, _, _ = await api.call("GET", "/v2/auth/device?device_code=unknown")
    assert status == 404


async def test_account_providers_are_encrypted_and_never_returned(stack):
    api = stack.api
    key = await api.login()
    secret = "vercel-secret-token-value-123"
    status, body, text, _ = await api.call("POST", "/v2/account/providers",
                                           {"provider": "vercel", "credentials": {"vercel_token": secret}}, key=key)
    assert status == 200 and body["credential_names"] == ["vercel_token"] and secret not in text
    status, listed, text, _ = await api.call("GET", "/v2/account/providers", key=key)
    assert [p["provider"] for p in listed["providers"]] == ["vercel"] and secret not in text
    assert (await api.call("POST", "/v2/account/providers", {"provider": "nope", "credentials": {"a": "b"}},
                           key=key))[0] == 400
    # Each provider's credential names: a missing or misspelt one is named, its value never echoed.
    status, _, text, _ = await api.call("POST", "/v2/account/providers",
                                        {"provider": "e2b", "credentials": {"E2B_API_KEY": "e2b-value-42"}}, key=key)
    assert status == 400 and "api_key" in text and "E2B_API_KEY" in text and "e2b-value-42" not in text
    status, _, text, _ = await api.call("POST", "/v2/account/providers",
                                        {"provider": "modal", "credentials": {"token_id": "ak-1"}}, key=key)
    assert status == 400 and "missing: token_secret" in text and "ak-1" not in text
    if not stack.env["CERVER_DATABASE_URL"]:
        raw = open(f"{stack.env['CERVER_DATA_DIR']}/auth.db", "rb").read()
        assert secret.encode() not in raw
    # Other services may read them, with the service token only.
    stub = auth_pb2_grpc.AuthServiceStub(grpc.aio.insecure_channel(stack.env["CERVER_AUTH_ADDR"]))
    _, account, _, _ = await api.call("GET", "/v2/auth/account", key=key)
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await stub.GetProviderCredentials(auth_pb2.GetProviderCredentialsRequest(
            account_id=account["account_id"], provider="vercel"), metadata=(("authorization", f"Bearer {key}"),))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    creds = await stub.GetProviderCredentials(auth_pb2.GetProviderCredentialsRequest(
        account_id=account["account_id"], provider="vercel"),
        metadata=(("x-cerver-service-token", stack.env["CERVER_SERVICE_TOKEN"]),))
    assert creds.credentials["vercel_token"] == secret
    assert (await api.call("DELETE", "/v2/account/providers/vercel", key=key))[0] == 200
    assert (await api.call("DELETE", "/v2/account/providers/vercel", key=key))[0] == 404


async def test_every_rpc_authenticates_over_grpc(stack):
    """Straight to the services, skipping the edge: no key, no answer."""
    from cerver.v2 import compute_pb2, compute_pb2_grpc, router_pb2, router_pb2_grpc, sessions_pb2, sessions_pb2_grpc

    calls = [
        (sessions_pb2_grpc.SessionServiceStub, "sessions", "ListSessions", sessions_pb2.ListSessionsRequest()),
        (compute_pb2_grpc.ComputeServiceStub, "compute", "ListComputes", compute_pb2.ListComputesRequest()),
        (router_pb2_grpc.RouterServiceStub, "router", "ListProviders", router_pb2.ListProvidersRequest()),
        (auth_pb2_grpc.AuthServiceStub, "auth", "Authenticate", auth_pb2.AuthenticateRequest(api_key="ck_x")),
    ]
    for stub_class, service, method, request in calls:
        async with grpc.aio.insecure_channel(stack.env[f"CERVER_{service.upper()}_ADDR"]) as ch:
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await getattr(stub_class(ch), method)(request)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED, (service, method)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await getattr(stub_class(ch), method)(request, metadata=(("x-cerver-service-token", "forged"),))
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_email_login_refused_without_open_signup(tmp_path):
    from cryptography.fernet import Fernet

    from servicekit import errors
    from servicekit.db import open_database
    from services.auth.domain import Accounts

    db = await open_database("auth", url=f"sqlite+aiosqlite:///{tmp_path}/auth.db")
    try:
        accounts = Accounts(db, Fernet(Fernet.generate_key()), open_signup=False, public_url="http://x")
        with pytest.raises(errors.ServiceError) as refused:
            await accounts.login("someone@example.com", "")
        assert refused.value.code == grpc.StatusCode.PERMISSION_DENIED and "device" in refused.value.message
    finally:
        await db.close()


async def test_keys_can_expire_and_an_expired_key_is_told_so(stack):
    from datetime import timedelta

    from sqlalchemy import update

    from servicekit.clock import now
    from services.auth.store import ApiKeyRow

    api = stack.api
    key = await api.login()
    status, created, text, _ = await api.call("POST", "/v2/auth/keys", {"name": "ci", "expires_in": 3600}, key=key)
    assert status == 200 and created["expires_at"], text
    temp = created["api_key"]
    assert (await api.call("GET", "/v2/sessions", key=temp))[0] == 200
    _, listed, _, _ = await api.call("GET", "/v2/auth/keys", key=key)
    assert next(k for k in listed["keys"] if k["prefix"] == created["prefix"])["expires_at"] == created["expires_at"]
    for bad in (0, 10, -5, 10 ** 9):
        status, err, text, _ = await api.call("POST", "/v2/auth/keys", {"expires_in": bad}, key=key)
        assert status == 400 and "expires_in" in err["message"], text
    accounts = stack.hosts["auth"].handlers[0].accounts
    async with accounts.store.db.session() as s:
        await s.exec(update(ApiKeyRow).where(ApiKeyRow.prefix == created["prefix"])
                     .values(expires_at=now() - timedelta(seconds=1)))
    for _ in range(40):  # keys are cached for at most 5 s
        status, err, text, _ = await api.call("GET", "/v2/sessions", key=temp)
        if status == 401:
            break
        await asyncio.sleep(0.25)
    assert status == 401 and "expired" in err["message"], text
    assert (await api.call("GET", "/v2/sessions", key=key))[0] == 200  # the other key is fine


async def test_the_approval_page_shows_what_is_asking_before_approval(api):
    key = await api.login()
    status, started, text, _ = await api.call("POST", "/v2/auth/device", {"client_name": "build-box-7"})
    assert status == 200, text
    code = started["user_code"]
    status, pending, text, _ = await api.call("GET", f"/v2/auth/device/{code}", key=key)
    assert status == 200 and pending["client_name"] == "build-box-7" and pending["client_host"] == "127.0.0.1", text
    assert pending["created_at"] and pending["expires_at"] and pending["user_code"] == code
    assert (await api.call("GET", f"/v2/auth/device/{code}"))[0] == 401  # a signed-in user only
    assert (await api.call("GET", "/v2/auth/device/ZZZZ-ZZZZ", key=key))[0] == 404
    status, _, html, _ = await api.call("GET", "/device")
    assert "/v2/auth/device/" in html and "client_host" in html
    await api.call("POST", "/v2/auth/approve", {"user_code": code}, key=key)
    assert (await api.call("GET", f"/v2/auth/device/{code}", key=key))[0] == 404  # no longer pending


async def test_racing_writes_of_the_same_row_all_succeed(api):
    """Two callers enabling the same provider at once (an upsert race) both get 200, not a 500."""
    key = await api.login()
    body = {"provider": "e2b", "credentials": {"api_key": "e2b_x"}}
    results = await asyncio.gather(*(api.call("POST", "/v2/account/providers", body, key=key) for _ in range(8)))
    assert all(r[0] == 200 for r in results), [r[2] for r in results if r[0] != 200]


async def test_concurrent_read_then_write_units_queue_instead_of_failing(api):
    """Sign-ups and key creations at once: each reads, then writes; none may fail with a 500."""
    key = await api.login()
    calls = [api.call("POST", "/v2/auth/login", {"email": f"burst-{i}-{uuid.uuid4().hex[:6]}@example.com"})
             for i in range(15)]
    calls += [api.call("POST", "/v2/auth/keys", {"name": f"k{i}"}, key=key) for i in range(15)]
    results = await asyncio.gather(*calls)
    assert all(r[0] == 200 for r in results), [r[2] for r in results if r[0] != 200]
