"""Account mail: sign-up and address-confirmation links, sent through ``MINDHIT_SMTP_URL``.

Why it exists: an account is made, and an address trusted (reports, admin rights), only
once its owner opened a link mailed to it. The links are made here and mailed through
the core SMTP transport (:mod:`mindhit.mail`, STARTTLS required unless the URL says
otherwise).

Without SMTP, in development, the link is written to the log (``account.mail_not_sent``
with the link), so a local set-up still works; in production it is never logged (a
log is not a mailbox) and the operator confirms with ``mindhit user confirm EMAIL``.
Sending happens after the response (a background task): a slow or failing mail server
never holds up the page; failures are logged and the user can ask again.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import psycopg

from mindhit.account_links import CONFIRM_TTL, create_link
from mindhit.logs import get_logger
from mindhit.mail import parse_smtp_url, send
from mindhit.settings import Settings

__all__ = [
    "confirmation_message",
    "existing_account_message",
    "link_url",
    "links_on_page",
    "prepare_confirmation",
    "send_account_mail",
    "sign_up_message",
]

log = get_logger(__name__)


def link_url(settings: Settings, path: str, secret: str) -> str:
    """The public URL of a one-time link (``path`` is a dashboard path like ``/confirm-email``)."""
    return f"{settings.public_url.rstrip('/')}{path}?token={quote(secret)}"


def confirmation_message(settings: Settings, recipient: str, link: str) -> EmailMessage:
    """The confirmation mail (plain text: nothing in it comes from a web page)."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = recipient
    message["Subject"] = "Confirm your email address for MindHit"
    hours = int(CONFIRM_TTL.total_seconds() // 3600)
    message.set_content(
        "Someone (hopefully you) created a MindHit account with this address or asked\n"
        "to confirm it. To confirm it, open this link while signed in to that account:\n\n"
        f"  {link}\n\n"
        f"The link works once and for {hours} hours. Until the address is confirmed,\n"
        "MindHit sends it no session reports. If this was not you, ignore this mail.\n"
    )
    return message


def links_on_page(settings: Settings) -> bool:
    """Whether a sign-up's link is shown on the page: only in development without SMTP,
    where the mail is not sent (it is written to the log) and a local set-up must still
    work. Anywhere else the link travels only by mail, to the address's owner."""
    return settings.env == "development" and not settings.smtp_url


def sign_up_message(settings: Settings, recipient: str, link: str) -> EmailMessage:
    """The mail that finishes a sign-up (plain text: nothing in it comes from a web page)."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = recipient
    message["Subject"] = "Finish creating your MindHit account"
    hours = int(CONFIRM_TTL.total_seconds() // 3600)
    message.set_content(
        "Someone (hopefully you) asked for a MindHit account with this address.\n"
        "To create it, open this link:\n\n"
        f"  {link}\n\n"
        f"The link works once and for {hours} hours. If this was not you, ignore this mail:\n"
        "no account is made without it.\n"
    )
    return message


def existing_account_message(settings: Settings, recipient: str) -> EmailMessage:
    """The mail to an address that asked for an account it already has (the sign-up page
    does not say so: it answers every address the same)."""
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = recipient
    message["Subject"] = "You already have a MindHit account"
    login = f"{settings.public_url.rstrip('/')}/login"
    message.set_content(
        "Someone (hopefully you) asked for a MindHit account with this address, but it\n"
        "already has one, so nothing was created or changed. Sign in here:\n\n"
        f"  {login}\n\n"
        "If you forgot the password, ask the operator for a one-time sign-in link.\n"
        "If this was not you, ignore this mail.\n"
    )
    return message


async def prepare_confirmation(
    conn: psycopg.AsyncConnection[Any], settings: Settings, user_id: str, *, now: datetime
) -> EmailMessage:
    """A new confirmation link for the user's current address, as the mail to send."""
    secret = await create_link(conn, user_id, purpose="confirm-email", now=now, ttl=CONFIRM_TTL)
    cur = await conn.execute("SELECT email FROM users WHERE user_id = %s", (user_id,))
    row = await cur.fetchone()
    assert row is not None  # create_link found the user a moment ago
    return confirmation_message(settings, row[0], link_url(settings, "/confirm-email", secret))


async def send_account_mail(settings: Settings, message: EmailMessage) -> bool:
    """Send (or, in development without SMTP, log) an account mail; never raises.

    Returns:
        True when the SMTP server accepted it.
    """
    if not settings.smtp_url:
        if settings.env == "development":
            log.warning(
                "account.mail_not_sent",
                reason="MINDHIT_SMTP_URL is empty; the mail is shown here (development only)",
                to=message["To"],
                subject=message["Subject"],
                body=message.get_content(),
            )
        else:
            log.warning("account.mail_not_sent", reason="MINDHIT_SMTP_URL is empty")
        return False
    try:
        await send(parse_smtp_url(settings.smtp_url), message)
    except Exception as exc:  # mail must never break the page that asked for it
        log.warning("account.mail_failed", error=f"{type(exc).__name__}: {exc}")
        return False
    log.info("account.mail_sent", subject=message["Subject"])
    return True
