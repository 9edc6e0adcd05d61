"""Account pages: sign up, sign in/out, confirm an address, one-time sign-in, password.

Forms post with the CSRF token and redirect afterwards (post/redirect/get). Sign-in is
throttled per (account, address) and per address (:mod:`web.throttle`); the client
address is the one :mod:`web.proxies` resolved. One-time links open a page with a
button rather than acting on the GET, so a mail scanner fetching the link spends
nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import psycopg
from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.datastructures import Cookie
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template

from mindhit.account_links import looks_like_link_secret
from mindhit.accounts import User, sign_out_everywhere
from mindhit.clock import Clock, utc_datetime
from mindhit.settings import Settings
from web import account
from web.account_mail import links_on_page, prepare_confirmation, send_account_mail
from web.actions import ActionError
from web.auth import create_login, delete_login, session_hash
from web.common import client_address
from web.next_path import safe_next
from web.security import DEVICE_COOKIE, SESSION_COOKIE, cookie_secure, login_cookie
from web.settings_page import settings_page
from web.throttle import device_cookie

__all__ = ["AccountPages"]

Conn = psycopg.AsyncConnection[Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
DEVICE_TTL_S = 365 * 24 * 3600


def _device_cookie(request: Request[Any, Any, Any], user: User, nonce: str, secure: bool) -> Cookie:
    return Cookie(
        key=DEVICE_COOKIE,
        value=device_cookie(request.app.state.device_secret, user.user_id, nonce),
        max_age=DEVICE_TTL_S,
        httponly=True,
        secure=secure,
        samesite="lax",
        path="/",
    )


async def _signed_in(
    request: Request[Any, Any, Any],
    conn: Conn,
    settings: Settings,
    user_id: str,
    *,
    now: datetime,
    path: str,
    cookies: list[Cookie] | None = None,
    background: BackgroundTask | None = None,
) -> Redirect:
    """Start a dashboard sign-in for ``user_id`` and redirect to ``path`` with its cookie."""
    value = await create_login(
        conn, user_id, now=now, user_agent=request.headers.get("user-agent", "")
    )
    return Redirect(
        path=path,
        status_code=303,
        cookies=[login_cookie(value, settings), *(cookies or [])],
        background=background,
    )


def _page(name: str, status_code: int = 200, user: User | None = None, **context: Any) -> Template:
    return Template(template_name=name, context={"user": user, **context}, status_code=status_code)


def _mail_context(settings: Settings) -> dict[str, Any]:
    """What the sign-up pages say about mail: whether this server sends any, and whether
    its links are shown on the page instead (development without SMTP)."""
    return {
        "mail_configured": bool(settings.smtp_url),
        "links_on_page": links_on_page(settings),
    }


def _link(token: str) -> str:
    return token if looks_like_link_secret(token) else ""


NextPage = Annotated[
    str | None, Parameter(query="next", description="the page to return to (a path here)")
]


def _after_sign_in(confirm: str, after: str | None) -> str:
    """Confirming an address first, else the page the user came for, else their sessions."""
    if confirm:
        return f"/confirm-email?token={confirm}"
    return after or "/sessions"


class AccountPages(Controller):
    """Signing up, in and out; confirming an address; passwords; signing out everywhere."""

    include_in_schema = False

    @get("/login")
    async def login_form(
        self, maybe_user: User | None, confirm: str = "", next_page: NextPage = None
    ) -> Response[Any]:
        confirm = _link(confirm)
        after = safe_next(next_page)
        if maybe_user:
            return Redirect(path=_after_sign_in(confirm, after), status_code=303)
        return _page("login.html", email="", error="", confirm=confirm, next=after)

    @post("/login")
    async def login(
        self,
        request: Request[Any, Any, Any],
        data: Form,
        conn: Conn,
        settings: Settings,
        clock: Clock,
    ) -> Response[Any]:
        email = data.get("email", "").strip()[:320]
        confirm = _link(data.get("confirm", ""))
        after = safe_next(data.get("next"))
        outcome = await account.sign_in(
            conn,
            request.app.state.throttle,
            request.app.state.device_secret,
            email,
            data.get("password", ""),
            address=client_address(request),
            device_cookie=request.cookies.get(DEVICE_COOKIE),
            now=utc_datetime(clock()),
        )
        metrics = request.app.state.metrics.signins
        if not outcome.decision.allowed:
            metrics.labels("limited").inc()
            wait = outcome.decision.retry_after_s
            page = _page(
                "login.html",
                429,
                email=email,
                confirm=confirm,
                next=after,
                error=f"Too many sign-in attempts. Try again in {_wait_text(wait)}.",
            )
            page.headers["retry-after"] = str(wait)
            return page
        if outcome.user is None:
            metrics.labels("wrong").inc()
            error = "That email and password do not match."
            return _page("login.html", 400, email=email, confirm=confirm, next=after, error=error)
        metrics.labels("ok").inc()
        known = _device_cookie(request, outcome.user, outcome.device, cookie_secure(settings))
        return await _signed_in(
            request,
            conn,
            settings,
            outcome.user.user_id,
            now=utc_datetime(clock()),
            path=_after_sign_in(confirm, after),
            cookies=[known],
        )

    @get("/signup")
    async def signup_form(self, settings: Settings) -> Template:
        return _page("signup.html", email="", error="", **_mail_context(settings))

    @post("/signup")
    async def signup(
        self,
        request: Request[Any, Any, Any],
        data: Form,
        conn: Conn,
        settings: Settings,
        clock: Clock,
    ) -> Response[Any]:
        email = data.get("email", "").strip()[:320]
        mail = _mail_context(settings)
        decision = await request.app.state.limiter.signup(client_address(request))
        if not decision.allowed:
            error = "Too many new accounts from this address. Try again later."
            return _page("signup.html", 429, email=email, error=error, field="", **mail)
        if data.get("password", "") != data.get("password2", ""):
            error = "The two passwords differ."
            return _page("signup.html", 400, email=email, error=error, field="password2", **mail)
        try:
            asked = await account.sign_up(
                conn,
                request.app.state.redis,
                request.app.state.limiter,
                settings,
                email,
                data.get("password", ""),
            )
        except ActionError as exc:
            return _page("signup.html", 400, email=email, error=str(exc), field=exc.field, **mail)
        # The same answer whether or not the address has an account (no cookie, no
        # redirect elsewhere); the mail says which, to the address's owner only.
        return Template(
            template_name="signup_sent.html",
            context={
                "user": None,
                "email": asked.email,
                "link": asked.link if links_on_page(settings) else "",
                **mail,
            },
            background=(
                BackgroundTask(send_account_mail, settings, asked.mail) if asked.mail else None
            ),
        )

    @get("/signup/finish")
    async def finish_form(self, token: str = "") -> Template:
        return _page("signup_finish.html", token=_link(token), error="")

    @post("/signup/finish")
    async def finish(
        self,
        request: Request[Any, Any, Any],
        data: Form,
        conn: Conn,
        settings: Settings,
        clock: Clock,
    ) -> Response[Any]:
        token = _link(data.get("token", ""))
        try:
            created = await account.finish_sign_up(
                conn, request.app.state.redis, settings, token, data.get("password", "")
            )
        except ActionError as exc:
            kept = token if exc.field == "password" else ""  # a wrong password: try again
            return _page("signup_finish.html", 400, token=kept, error=str(exc), field=exc.field)
        now = utc_datetime(clock())
        background = None
        if not created.email_confirmed:  # development without SMTP: confirm as before
            mail = await prepare_confirmation(conn, settings, created.user_id, now=now)
            background = BackgroundTask(send_account_mail, settings, mail)
        return await _signed_in(
            request,
            conn,
            settings,
            created.user_id,
            now=now,
            path="/settings?welcome=1",
            background=background,
        )

    @post("/logout")
    async def logout(
        self, request: Request[Any, Any, Any], conn: Conn, settings: Settings
    ) -> Redirect:
        value = request.cookies.get(SESSION_COOKIE)
        if value:
            await delete_login(conn, value)
        return Redirect(
            path="/login", status_code=303, cookies=[login_cookie("", settings, clear=True)]
        )

    @get("/confirm-email")
    async def confirm_form(self, maybe_user: User | None, token: str = "") -> Response[Any]:
        token = _link(token)
        if maybe_user is None and token:
            return Redirect(path=f"/login?confirm={token}", status_code=303)
        return _page("confirm_email.html", user=maybe_user, token=token, done=False, error="")

    @post("/confirm-email")
    async def confirm(self, user: User, conn: Conn, data: Form, clock: Clock) -> Template:
        if await account.confirm_address(
            conn, user, data.get("token", ""), now=utc_datetime(clock())
        ):
            return _page("confirm_email.html", user=user, token="", done=True, error="")
        error = (
            "This link is not valid for your account: it was used already, has expired, was"
            " sent for another account or to an address you no longer have."
        )
        return _page("confirm_email.html", 400, user=user, token="", done=False, error=error)

    @post("/settings/email/resend")
    async def resend(
        self,
        request: Request[Any, Any, Any],
        user: User,
        conn: Conn,
        settings: Settings,
        clock: Clock,
    ) -> Response[Any]:
        try:
            mail = await account.request_confirmation(
                conn, request.app.state.limiter, settings, user, now=utc_datetime(clock())
            )
        except ActionError as exc:
            notice = "mail-limited" if exc.retry_after_s else ""
            return Redirect(path=f"/settings?notice={notice}", status_code=303)
        return Redirect(
            path="/settings?notice=mail-sent",
            status_code=303,
            background=BackgroundTask(send_account_mail, settings, mail),
        )

    @get("/signin-link")
    async def link_form(self, token: str = "") -> Template:
        return _page("signin_link.html", token=_link(token), error="")

    @post("/signin-link")
    async def link_sign_in(
        self,
        request: Request[Any, Any, Any],
        data: Form,
        conn: Conn,
        settings: Settings,
        clock: Clock,
    ) -> Response[Any]:
        found = await account.sign_in_with_link(
            conn, data.get("token", ""), now=utc_datetime(clock())
        )
        if found is None:
            error = "This sign-in link is not valid: it was used already or has expired."
            return _page("signin_link.html", 400, token="", error=error)
        return await _signed_in(
            request,
            conn,
            settings,
            found.user_id,
            now=utc_datetime(clock()),
            path="/settings?welcome=1#account",
        )

    @post("/settings/password")
    async def password(
        self,
        request: Request[Any, Any, Any],
        user: User,
        conn: Conn,
        settings: Settings,
        data: Form,
        clock: Clock,
    ) -> Response[Any]:
        new = data.get("new_password", "")
        try:
            if new != data.get("new_password2", ""):
                raise ActionError("The two new passwords differ.", field="new_password")
            await account.change_password(
                conn,
                request.app.state.throttle,
                user,
                data.get("current_password", ""),
                new,
                address=client_address(request),
                keep_session=session_hash(request.cookies.get(SESSION_COOKIE, "")),
                now=utc_datetime(clock()),
            )
        except ActionError as exc:
            status = 429 if exc.retry_after_s else 400
            return await settings_page(
                user, conn, settings, now=utc_datetime(clock()), error=str(exc), status=status
            )
        return Redirect(path="/settings?notice=password#account", status_code=303)

    @post("/settings/sign-out-everywhere")
    async def everywhere(
        self, user: User, conn: Conn, settings: Settings, clock: Clock
    ) -> Redirect:
        await sign_out_everywhere(conn, user.user_id, now=utc_datetime(clock()))
        return Redirect(
            path="/login", status_code=303, cookies=[login_cookie("", settings, clear=True)]
        )


def _wait_text(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} s"
    return f"about {round(seconds / 60)} min"
