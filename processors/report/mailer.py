"""Sending one report through SMTP (``MINDHIT_SMTP_URL``) with aiosmtplib.

URL forms: ``smtp://host:port`` (plain, STARTTLS when the server offers it),
``smtps://host:465`` (implicit TLS), optional ``user:password@`` (percent-encoded).
"""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiosmtplib
import msgspec

from processors.report.render import ReportEmail

__all__ = ["SMTP_TIMEOUT_S", "SmtpTarget", "build_message", "parse_smtp_url", "send"]

SMTP_TIMEOUT_S = 15.0
"""Bound on one delivery (connect + send): a slow server cannot hold up the agent longer."""


class SmtpTarget(msgspec.Struct, frozen=True, kw_only=True):
    """Where and how to deliver: host, port, TLS mode and optional login."""

    host: str
    port: int
    implicit_tls: bool = False
    username: str | None = None
    password: str | None = None


def parse_smtp_url(url: str) -> SmtpTarget:
    """Parse ``smtp[s]://[user:pass@]host[:port]``.

    Raises:
        ValueError: the scheme is not smtp/smtps or the host is missing.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"MINDHIT_SMTP_URL must look like smtp://host:port, got {url!r}")
    implicit = parts.scheme == "smtps"
    return SmtpTarget(
        host=parts.hostname,
        port=parts.port or (465 if implicit else 25),
        implicit_tls=implicit,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def build_message(report: ReportEmail, *, sender: str, recipient: str) -> EmailMessage:
    """A multipart/alternative message: plain text first, HTML preferred."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = report.subject
    message.set_content(report.text)
    message.add_alternative(report.html, subtype="html")
    return message


async def send(target: SmtpTarget, message: EmailMessage) -> None:
    """Deliver ``message``; raises aiosmtplib/OS errors on failure (the caller logs them)."""
    await aiosmtplib.send(
        message,
        hostname=target.host,
        port=target.port,
        username=target.username,
        password=target.password,
        use_tls=target.implicit_tls,
        start_tls=None if not target.implicit_tls else False,
        timeout=SMTP_TIMEOUT_S,
    )
