"""Sending mail through ``MINDHIT_SMTP_URL`` (aiosmtplib), for every component that mails.

Why it exists: session reports (processors) and account mail (the dashboard's address
confirmation) go out the same way, and services never import each other, so the SMTP
transport lives in the core.

URL forms (``user:password@`` optional, percent-encoded):

- ``smtp://host:25``: STARTTLS is *required*; a server that does not offer it, or
  whose certificate does not verify, gets nothing (the send fails).
- ``smtps://host:465``: implicit TLS.
- ``smtp+insecure://host:25``: plain text, no TLS at all. Only for a local relay or
  a development mail catcher; the URL says so explicitly.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import Literal
from urllib.parse import unquote, urlsplit

import aiosmtplib
import msgspec

__all__ = ["SMTP_TIMEOUT_S", "SmtpTarget", "parse_smtp_url", "send"]

SMTP_TIMEOUT_S = 15.0
"""Bound on one delivery (connect + send): a slow server cannot hold a caller longer."""

TlsMode = Literal["starttls", "implicit", "none"]
_SCHEMES: dict[str, tuple[TlsMode, int]] = {
    "smtp": ("starttls", 25),
    "smtps": ("implicit", 465),
    "smtp+insecure": ("none", 25),
}


class SmtpTarget(msgspec.Struct, frozen=True, kw_only=True):
    """Where and how to deliver: host, port, TLS mode and optional login."""

    host: str
    port: int
    tls: TlsMode = "starttls"
    username: str | None = None
    password: str | None = None

    @property
    def implicit_tls(self) -> bool:
        """Whether the connection is TLS from the first byte (``smtps://``)."""
        return self.tls == "implicit"


def parse_smtp_url(url: str) -> SmtpTarget:
    """Parse ``smtp://``, ``smtps://`` or ``smtp+insecure://`` ``[user:pass@]host[:port]``.

    Raises:
        ValueError: another scheme, or the host is missing.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES or not parts.hostname:
        raise ValueError(
            "MINDHIT_SMTP_URL must look like smtp://host:port (STARTTLS required),"
            f" smtps://host:port or smtp+insecure://host:port, got {url!r}"
        )
    tls, default_port = _SCHEMES[scheme]
    return SmtpTarget(
        host=parts.hostname,
        port=parts.port or default_port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


async def send(target: SmtpTarget, message: EmailMessage) -> None:
    """Deliver ``message``; raises aiosmtplib/OS errors on failure (the caller logs them).

    With ``starttls`` the session is upgraded before anything else is said, and a
    server without STARTTLS fails the send (aiosmtplib raises) instead of carrying the
    login and the message in plain text.
    """
    await aiosmtplib.send(
        message,
        hostname=target.host,
        port=target.port,
        username=target.username,
        password=target.password,
        use_tls=target.tls == "implicit",
        start_tls=target.tls == "starttls",
        timeout=SMTP_TIMEOUT_S,
    )
