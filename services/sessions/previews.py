"""A public preview's address: the first label of its host name carries the
session and a signature of it, so the URL needs nothing stored, cannot be
forged or guessed, and fits a DNS label (at most 63 characters, lowercase)."""
import base64
import hashlib
import hmac
import re
import uuid

from servicekit import config

LABEL = re.compile(r"([0-9a-f]{32})-([a-z2-7]{26})")


def _signature(session_id: str) -> str | None:
    secret = config.service_token()
    if not secret:
        return None
    key = hmac.new(secret.encode(), b"cerver public preview v1", hashlib.sha256).digest()
    digest = hmac.new(key, session_id.encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:26]  # 130 bits


def label(session_id: str) -> str:
    signature = _signature(session_id)
    return f"{uuid.UUID(session_id).hex}-{signature}" if signature else ""


def session_of(host_label: str) -> str | None:
    """The session a host label names, when its signature holds."""
    found = LABEL.fullmatch(host_label.lower())
    if found is None:
        return None
    session_id = str(uuid.UUID(found.group(1)))
    expected = _signature(session_id)
    return session_id if expected and hmac.compare_digest(expected, found.group(2)) else None


def url(session_id: str) -> str:
    """The session's preview URL; empty when this deployment serves none."""
    template = config.preview_url_template()
    return template.replace("{label}", label(session_id)) if template and config.service_token() else ""
