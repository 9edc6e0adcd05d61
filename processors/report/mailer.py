"""Building one report message; the SMTP transport itself is :mod:`mindhit.mail`.

``smtp://`` requires STARTTLS, ``smtps://`` is implicit TLS, ``smtp+insecure://`` is
plain text by explicit choice (see :mod:`mindhit.mail`).
"""

from __future__ import annotations

from email.message import EmailMessage

from mindhit.mail import SMTP_TIMEOUT_S, SmtpTarget, parse_smtp_url, send
from processors.report.render import ReportEmail

__all__ = ["SMTP_TIMEOUT_S", "SmtpTarget", "build_message", "parse_smtp_url", "send"]


def build_message(report: ReportEmail, *, sender: str, recipient: str) -> EmailMessage:
    """A multipart/alternative message: plain text first, HTML preferred."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = report.subject
    message.set_content(report.text)
    message.add_alternative(report.html, subtype="html")
    return message
