"""The account API (``/v1/account/...``): password, sign out everywhere, address confirmation.

Authenticated by the sign-in cookie and protected by the CSRF header like the rest of
``/v1``; the same actions as the account pages (:mod:`web.account`). Field errors answer
400 with ``extra: [{key, message}]``; throttled attempts 429 with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

import psycopg
from litestar import Controller, Request, Response, post
from litestar.exceptions import (
    PermissionDeniedException,
    TooManyRequestsException,
    ValidationException,
)

from mindhit.accounts import User, sign_out_everywhere
from mindhit.clock import Clock, utc_datetime
from mindhit.settings import Settings
from web import account
from web.account_mail import send_account_mail
from web.account_models import EmailConfirmation, MailRequested, PasswordChange, SignedOut
from web.actions import ActionError
from web.auth import session_hash
from web.common import client_address
from web.security import SESSION_COOKIE, login_cookie

__all__ = ["AccountApiController"]

Conn = psycopg.AsyncConnection[Any]


def _refusal(exc: ActionError) -> Exception:
    if exc.retry_after_s:
        return TooManyRequestsException(str(exc), headers={"retry-after": str(exc.retry_after_s)})
    return ValidationException(str(exc), extra=[{"key": exc.field, "message": str(exc)}])


class AccountApiController(Controller):
    """The signed-in user's account."""

    path = "/v1/account"
    tags = ["account"]

    @post(
        "/password",
        summary="Change the password (signs out every other browser and revokes every"
        " device token)",
        status_code=204,
        raises=[ValidationException, TooManyRequestsException],
    )
    async def password(
        self,
        request: Request[Any, Any, Any],
        user: User,
        conn: Conn,
        clock: Clock,
        data: PasswordChange,
    ) -> None:
        try:
            await account.change_password(
                conn,
                request.app.state.throttle,
                user,
                data.current_password,
                data.new_password,
                address=client_address(request),
                keep_session=session_hash(request.cookies.get(SESSION_COOKIE, "")),
                now=utc_datetime(clock()),
            )
        except ActionError as exc:
            raise _refusal(exc) from exc

    @post(
        "/sign-out-everywhere",
        summary="End every sign-in of this account: every browser, this one included, and"
        " every device token (paired extensions stop uploading and must be paired again)",
        status_code=200,
    )
    async def everywhere(
        self, user: User, conn: Conn, settings: Settings, clock: Clock
    ) -> Response[SignedOut]:
        done = await sign_out_everywhere(conn, user.user_id, now=utc_datetime(clock()))
        return Response(
            SignedOut(ended=done.ended, tokens_revoked=done.tokens_revoked),
            cookies=[login_cookie("", settings, clear=True)],
        )

    @post(
        "/email/resend",
        summary="Mail a new confirmation link to the account's address",
        status_code=202,
        raises=[PermissionDeniedException, TooManyRequestsException],
    )
    async def resend(
        self,
        request: Request[Any, Any, Any],
        user: User,
        conn: Conn,
        settings: Settings,
        clock: Clock,
    ) -> MailRequested:
        try:
            mail = await account.request_confirmation(
                conn, request.app.state.limiter, settings, user, now=utc_datetime(clock())
            )
        except ActionError as exc:
            if exc.retry_after_s:
                raise _refusal(exc) from exc
            raise PermissionDeniedException(str(exc)) from exc
        return MailRequested(email=user.email, mailed=await send_account_mail(settings, mail))

    @post(
        "/email/confirm",
        summary="Confirm the account's address with the token of the mailed link",
        status_code=204,
        raises=[ValidationException],
    )
    async def confirm(self, user: User, conn: Conn, clock: Clock, data: EmailConfirmation) -> None:
        if not await account.confirm_address(conn, user, data.token, now=utc_datetime(clock())):
            raise ValidationException(
                "This link is not valid for your account.",
                extra=[{"key": "token", "message": "used, expired or not for this account"}],
            )
