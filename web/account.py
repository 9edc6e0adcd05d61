"""Account actions shared by the pages and the JSON API: sign up, sign in, passwords, links.

Each takes its connection, throttle and clock as arguments, so the HTML forms, the
``/v1/account`` API and the tests run exactly the same code. Errors are
:class:`web.actions.ActionError` naming the field they are about.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from email.message import EmailMessage
from typing import Any, NamedTuple

import msgspec
import psycopg
import redis.asyncio as aioredis

from mindhit import accounts
from mindhit.account_links import consume_link
from mindhit.accounts import User
from mindhit.emails import EmailError, normalize_email
from mindhit.passwords import verify_password
from mindhit.settings import Settings
from web.account_mail import (
    existing_account_message,
    link_url,
    prepare_confirmation,
    sign_up_message,
)
from web.actions import ActionError
from web.auth import check_password, hash_password, password_problem
from web.ratelimit import WindowLimiter
from web.signup_store import PendingSignUp, peek_sign_up, store_sign_up, take_sign_up
from web.throttle import Decision, SignInThrottle, device_id

__all__ = [
    "SignIn",
    "SignUpAsked",
    "change_password",
    "confirm_address",
    "finish_sign_up",
    "request_confirmation",
    "sign_in",
    "sign_in_with_link",
    "sign_up",
]

Conn = psycopg.AsyncConnection[Any]


class SignIn(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of a sign-in attempt.

    ``user`` is set when the password matched; ``decision`` says whether the attempt
    was allowed at all; ``device`` is the browser's known-device nonce to (re)issue.
    """

    user: User | None
    decision: Decision
    device: str = ""


def _ms(now: datetime) -> int:
    return int(now.timestamp() * 1000)


class SignUpAsked(NamedTuple):
    """What a sign-up did: the link that finishes it (shown on the page only in
    development without SMTP) and the mail to send, if any (``None`` beyond the
    address's hourly mail limit). The same shape whether or not the address had an
    account: only the mail's words differ, and only its recipient reads them."""

    email: str
    link: str
    mail: EmailMessage | None


async def sign_up(
    conn: Conn,
    redis: aioredis.Redis,
    limiter: WindowLimiter,
    settings: Settings,
    email: str,
    password: str,
) -> SignUpAsked:
    """Ask for an account: mail its address a link that creates it (:mod:`web.signup_store`).

    Nothing here tells the asker whether the address already has an account: both
    cases check the input, hash the password (Argon2, the slow part), look the address
    up, store a pending sign-up and prepare one mail, sent after the answer. A new
    address is mailed the link that makes the account; one that has an account is
    mailed that it has (and its link makes nothing). At most
    ``limiter.account_mail`` mails per address (5 an hour), whoever asks.

    Raises:
        ActionError: not one valid address (``email``) or an unacceptable password
            (``password``): real input errors, answered at once.
    """
    try:
        email = normalize_email(email)
    except EmailError as exc:
        raise ActionError(str(exc), field="email") from exc
    problem = password_problem(password)
    if problem:
        raise ActionError(problem, field="password")
    password_hash = await hash_password(password)
    taken = await accounts.find_user(conn, email) is not None
    pending = PendingSignUp(
        email=email,
        password_hash="" if taken else password_hash,
        confirmed=bool(settings.smtp_url),
        taken=taken,
    )
    secret = await store_sign_up(redis, settings.key_prefix, pending)
    link = link_url(settings, "/signup/finish", secret)
    if taken:
        mail = existing_account_message(settings, email)
    else:
        mail = sign_up_message(settings, email, link)
    allowed = await limiter.account_mail(f"sign-up:{email}")
    return SignUpAsked(email=email, link=link, mail=mail if allowed.allowed else None)


async def finish_sign_up(
    conn: Conn, redis: aioredis.Redis, settings: Settings, secret: str, password: str
) -> User:
    """Use a sign-up link with the password chosen when signing up: make the account.

    The password must match (Argon2, in a worker thread): the address's owner opening a
    link somebody else asked for (who chose, and knows, its password) makes nothing, and
    the link stays for its real asker. The address counts as confirmed when the link
    went only by mail. The link works once.

    Raises:
        ActionError: the link is unknown, used or expired (``token``), the password is
            not the one chosen (``password``), or the address has an account (it had
            one when asked, or another link made it first: ``email``).
    """
    invalid = ActionError(
        "This link is not valid: it was used already or has expired. Sign up again.",
        field="token",
    )
    taken = ActionError(
        "This address already has an account: sign in with its password.", field="email"
    )
    pending = await peek_sign_up(redis, settings.key_prefix, secret)
    if pending is None:
        raise invalid
    if pending.taken:
        await take_sign_up(redis, settings.key_prefix, secret)
        raise taken
    if not (await verify_password(pending.password_hash, password)).matched:
        raise ActionError(
            "That is not the password chosen when this sign-up was asked for.", field="password"
        )
    pending = await take_sign_up(redis, settings.key_prefix, secret)
    if pending is None:  # used meanwhile
        raise invalid
    try:
        return await accounts.create_user(
            conn,
            pending.email,
            password_hash=pending.password_hash,
            email_confirmed=pending.confirmed,
        )
    except accounts.EmailTakenError as exc:
        raise taken from exc


async def sign_in(
    conn: Conn,
    throttle: SignInThrottle,
    device_secret: str,
    email: str,
    password: str,
    *,
    address: str,
    device_cookie: str | None,
    now: datetime,
) -> SignIn:
    """Try ``email`` + ``password`` from ``address``, throttled (:mod:`web.throttle`).

    Steps: find the account (any spelling of the address); recognise a known device;
    count the attempt (refused → nothing else happens, not even a password check);
    verify the password in a worker thread; on success clear the account's bucket.
    """
    try:
        account = normalize_email(email)
    except EmailError:
        account = email.strip().lower()[:320]
    user = await accounts.find_user(conn, account)
    device = device_id(device_secret, user.user_id if user else None, device_cookie)
    decision = await throttle.attempt(account, address, now_ms=_ms(now), device=device)
    if not decision.allowed:
        return SignIn(user=None, decision=decision)
    if not await check_password(conn, user, password):
        return SignIn(user=None, decision=decision)
    await throttle.succeeded(account, address, now_ms=_ms(now), device=device)
    return SignIn(user=user, decision=decision, device=device or secrets.token_urlsafe(16))


async def change_password(
    conn: Conn,
    throttle: SignInThrottle,
    user: User,
    current: str,
    new: str,
    *,
    address: str,
    keep_session: bytes | None,
    now: datetime,
) -> None:
    """Set a new password, sign out every other browser and revoke every device token.

    The current password is required when the account has one (checked under the same
    throttle as sign-in, so a stolen session cannot guess it quickly).

    Raises:
        ActionError: the current password is wrong (``current_password``), attempts are
            throttled (``current_password``, with ``retry_after_s``) or the new one is
            not acceptable (``new_password``).
    """
    problem = password_problem(new)
    if problem:
        raise ActionError(problem, field="new_password")
    if user.has_password:
        decision = await throttle.attempt(user.email, address, now_ms=_ms(now))
        if not decision.allowed:
            raise ActionError(
                "Too many attempts. Try again later.",
                field="current_password",
                retry_after_s=decision.retry_after_s,
            )
        if not await check_password(conn, user, current):
            raise ActionError("That is not your current password.", field="current_password")
        await throttle.succeeded(user.email, address, now_ms=_ms(now))
    await accounts.set_password(
        conn, user.user_id, await hash_password(new), now=now, keep_session=keep_session
    )


async def confirm_address(conn: Conn, user: User, secret: str, *, now: datetime) -> bool:
    """Use a confirmation link; only the signed-in owner of the address it was sent to can."""
    used = await consume_link(conn, secret, purpose="confirm-email", now=now, user_id=user.user_id)
    return used is not None and await accounts.confirm_email(
        conn, used.user_id, used.email, now=now
    )


async def request_confirmation(
    conn: Conn, limiter: WindowLimiter, settings: Settings, user: User, *, now: datetime
) -> EmailMessage:
    """A new confirmation link for the user's address, as the mail to send.

    Raises:
        ActionError: the address is confirmed already (``email``), or too many
            confirmation mails were asked for (``email``, with ``retry_after_s``).
    """
    if user.email_confirmed:
        raise ActionError("This address is confirmed already.", field="email")
    decision = await limiter.account_mail(user.user_id)
    if not decision.allowed:
        raise ActionError(
            "Too many confirmation mails for now.",
            field="email",
            retry_after_s=decision.retry_after_s,
        )
    return await prepare_confirmation(conn, settings, user.user_id, now=now)


async def sign_in_with_link(conn: Conn, secret: str, *, now: datetime) -> User | None:
    """Use a one-time sign-in link (``mindhit user link``); the user it was made for."""
    used = await consume_link(conn, secret, purpose="sign-in", now=now)
    return None if used is None else await accounts.find_user(conn, used.email)
