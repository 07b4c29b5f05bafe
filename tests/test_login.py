"""Email login cannot take over an account: an existing email gets a
one-time code by mail (a real SMTP server here), exchanged for a key."""
import contextlib
import re
import uuid

import pytest
from aiosmtpd.controller import Controller

from cli.dev import free_port
from services.auth import mailer


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"

    def code_for(self, address: str) -> str:
        for rcpt, content in reversed(self.messages):
            if address in rcpt:
                return re.search(r"sign-in code is (\d{6})", content).group(1)
        raise AssertionError(f"no mail to {address}")


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, f"smtp://127.0.0.1:{controller.port}"
    finally:
        controller.stop()


@contextlib.contextmanager
def mail_through(stack, url: str):
    accounts = stack.hosts["auth"].handlers[0].accounts
    saved = accounts.mailer
    accounts.mailer = mailer.SmtpMailer.from_url(url, "Cerver <no-reply@test>")
    try:
        yield
    finally:
        accounts.mailer = saved


async def test_an_existing_email_never_yields_a_key_by_itself(stack, smtp):
    inbox, url = smtp
    api = stack.api
    email = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    key = await api.login(email)
    _, account, _, _ = await api.call("GET", "/v2/auth/account", key=key)
    with mail_through(stack, url):
        # The takeover of the review: the same address, in another case and padded.
        status, body, text, _ = await api.call("POST", "/v2/auth/login", {"email": f"  {email.upper()} "})
        assert status == 200 and body["status"] == "code_sent" and body["api_key"] == "", text
        assert body["account_id"] == "" and "code" in body["message"]
        code = inbox.code_for(email)
        # A second request within the resend window mails nothing new.
        await api.call("POST", "/v2/auth/login", {"email": email})
        assert len([m for m in inbox.messages if email in m[0]]) == 1
        # Wrong codes are refused and spend attempts.
        for wrong in ("000000" if code != "000000" else "111111", "abc"):
            status, err, text, _ = await api.call("POST", "/v2/auth/login", {"email": email, "code": wrong})
            assert status == 401 and "code" in err["message"], text
        status, body, text, _ = await api.call("POST", "/v2/auth/login", {"email": email, "code": code})
        assert status == 200 and body["status"] == "signed_in" and body["api_key"].startswith("ck_"), text
        _, again, _, _ = await api.call("GET", "/v2/auth/account", key=body["api_key"])
        assert again["account_id"] == account["account_id"]
        # Single use.
        status, _, _, _ = await api.call("POST", "/v2/auth/login", {"email": email, "code": code})
        assert status == 401


async def test_codes_run_out_of_attempts(stack, smtp):
    inbox, url = smtp
    api = stack.api
    email = f"target-{uuid.uuid4().hex[:8]}@example.com"
    await api.login(email)
    with mail_through(stack, url):
        await api.call("POST", "/v2/auth/login", {"email": email})
        code = inbox.code_for(email)
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(5):
            assert (await api.call("POST", "/v2/auth/login", {"email": email, "code": wrong}))[0] == 401
        status, _, _, _ = await api.call("POST", "/v2/auth/login", {"email": email, "code": code})
        assert status == 401  # the right code, after five wrong ones, is no longer good


async def test_a_code_for_an_unknown_email_is_refused(api):
    status, err, text, _ = await api.call("POST", "/v2/auth/login",
                                          {"email": f"nobody-{uuid.uuid4().hex[:6]}@example.com", "code": "123456"})
    assert status == 401, text


async def test_an_smtp_failure_is_a_503_without_the_servers_address(stack, smtp):
    inbox, url = smtp
    api = stack.api
    email = f"unlucky-{uuid.uuid4().hex[:8]}@example.com"
    await api.login(email)
    with mail_through(stack, f"smtp://127.0.0.1:{free_port()}"):  # nothing listens there
        status, err, text, _ = await api.call("POST", "/v2/auth/login", {"email": email})
    assert status == 503 and "127.0.0.1" not in text and "could not be sent" in err["message"], text
    with mail_through(stack, url):  # the next try mails a code at once
        status, body, text, _ = await api.call("POST", "/v2/auth/login", {"email": email})
    assert status == 200 and inbox.code_for(email)


def test_mailer_from_environment(monkeypatch):
    monkeypatch.delenv("CERVER_SMTP_URL", raising=False)
    assert isinstance(mailer.from_env(), mailer.DevMailbox)
    monkeypatch.setenv("CERVER_SMTP_URL", "smtps://user:p%40ss@mail.example.com")
    smtp = mailer.from_env()
    assert (smtp.host, smtp.port, smtp.username, smtp.password, smtp.tls) == ("mail.example.com", 465, "user",
                                                                              "p@ss", True)
