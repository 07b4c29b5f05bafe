"""Where sign-in codes go: an SMTP server when CERVER_SMTP_URL is set
(smtp://user:password@host:587 uses STARTTLS when offered, smtps:// is TLS
from the start), else the development mailbox: the auth service's own log,
which `cerver dev` prints to its console."""
import dataclasses
import logging
import urllib.parse
from email.message import EmailMessage

import aiosmtplib

from servicekit import config, errors

log = logging.getLogger("cerver.auth.mail")


@dataclasses.dataclass
class SmtpMailer:
    host: str
    port: int
    username: str = ""
    password: str = ""
    tls: bool = False  # smtps: TLS from the first byte
    sender: str = "Cerver <no-reply@cerver.local>"

    @classmethod
    def from_url(cls, url: str, sender: str) -> "SmtpMailer":
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("CERVER_SMTP_URL must look like smtp://user:password@host:port")
        return cls(host=parts.hostname, port=parts.port or (465 if parts.scheme == "smtps" else 587),
                   username=urllib.parse.unquote(parts.username or ""),
                   password=urllib.parse.unquote(parts.password or ""), tls=parts.scheme == "smtps", sender=sender)

    async def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(body)
        try:
            await aiosmtplib.send(message, hostname=self.host, port=self.port, use_tls=self.tls,
                                  username=self.username or None, password=self.password or None, timeout=20)
        except (aiosmtplib.SMTPException, OSError) as exc:
            # The server's address and its words stay in the log, not in the reply.
            log.warning("sending mail through %s:%s failed: %s", self.host, self.port, exc)
            raise errors.unavailable("the sign-in code could not be sent; try again shortly") from None


class DevMailbox:
    """For the embedded default: mail is printed, never sent."""

    async def send(self, to: str, subject: str, body: str) -> None:
        log.warning("[development mailbox] to %s: %s\n%s", to, subject, body)


def from_env() -> SmtpMailer | DevMailbox:
    url = config.settings().smtp_url.get_secret_value()
    if not url:
        return DevMailbox()
    return SmtpMailer.from_url(url, config.settings().mail_from)
