"""Building one report message; the SMTP transport itself is :mod:`mindhit.mail`.

``smtp://`` requires STARTTLS, ``smtps://`` is implicit TLS, ``smtp+insecure://`` is
plain text by explicit choice (see :mod:`mindhit.mail`).
"""

from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import parseaddr

from mindhit.mail import SMTP_TIMEOUT_S, SmtpTarget, parse_smtp_url, send
from processors.report.render import ReportEmail

__all__ = [
    "SMTP_TIMEOUT_S",
    "SmtpTarget",
    "build_message",
    "parse_smtp_url",
    "report_message_id",
    "send",
]


def report_message_id(session_id: str, built_ts: int, sender: str) -> str:
    """The ``Message-ID`` of one session's report, the same for every send of it.

    Delivery is at least once (a worker dying after the mail server accepted the report,
    before its outbox record was removed, sends it again): the resend then carries the
    same id, so mail systems that deduplicate by ``Message-ID`` show it once. A hash, so
    the header names no session; a map built again (a re-derivation) is a new report.
    """
    digest = hashlib.sha256(f"{session_id}:{built_ts}".encode()).hexdigest()[:32]
    _, at, domain = parseaddr(sender)[1].rpartition("@")
    return f"<report.{digest}@{domain if at and domain else 'mindhit.invalid'}>"


def build_message(
    report: ReportEmail, *, sender: str, recipient: str, message_id: str
) -> EmailMessage:
    """A multipart/alternative message: plain text first, HTML preferred."""
    message = EmailMessage()
    message["Message-ID"] = message_id
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = report.subject
    message.set_content(report.text)
    message.add_alternative(report.html, subtype="html")
    return message
