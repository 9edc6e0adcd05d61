"""Pairing the browser extension without copying a token ("Connect to MindHit").

The extension opens ``/pair?challenge=…&device=…``; the signed-in user confirms the device
name (a CSRF-protected form); the dashboard issues a one-time code bound to that user,
device name and the extension's PKCE challenge (:mod:`web.pairing_store`) and sends the tab
to ``/pair/done#code=…``. The extension reads the code from its tab (a fragment: it never
reaches a server log or a Referer) and exchanges code and verifier at
``POST /v1/pairing/exchange`` for a new device token and the account's opaque identifier
(:func:`mindhit.erasures.account_ref`: it keeps what it queued for one account from
ever reaching another). A code taken any other way is useless
without the verifier, which never leaves the extension except to this exchange.

``POST /v1/pairing/codes`` issues a code through the JSON API (signed in, CSRF header). The
exchange is the one unsafe endpoint without CSRF protection: it uses no cookie at all, its
credential is the code and verifier in the body. A code lives only as long as the sign-in
that confirmed it: ending it (sign out everywhere, a password change, erasure) voids the
codes it issued. Every answer here is ``no-store``.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import psycopg
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import Body
from litestar.response import Redirect, Template

from mindhit.accounts import SignedOutError, User
from mindhit.clock import Clock, utc_datetime
from mindhit.erasures import account_ref, erased_at
from mindhit.settings import Settings
from web import actions
from web.auth import session_hash
from web.pairing_store import (
    CODE_TTL_S,
    PairingLimitedError,
    PendingCode,
    issue_code,
    take_code,
    valid_challenge,
)
from web.security import SESSION_COOKIE

__all__ = [
    "PairedDevice",
    "PairingApi",
    "PairingCode",
    "PairingCodeRequest",
    "PairingExchange",
    "PairingPages",
    "gateway_url",
]

Conn = psycopg.AsyncConnection[Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
NO_STORE = CacheControlHeader(no_store=True)
INVALID_CODE = "This pairing code is not valid (any more): click Connect in the extension again."
INVALID_LINK = "This pairing link is incomplete or damaged: click Connect in the extension again."

Device = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Challenge = Annotated[
    str, msgspec.Meta(pattern="^[A-Za-z0-9_-]{43}$", description="PKCE S256 challenge")
]


class PairingCodeRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Ask for a one-time code pairing a device with the signed-in user."""

    device: Device
    challenge: Challenge


class PairingCode(msgspec.Struct, frozen=True, kw_only=True):
    """A one-time code; exchange it (with the verifier) before ``expires_in_s`` passes."""

    code: str
    device: str
    expires_in_s: int


class PairingExchange(msgspec.Struct, frozen=True, kw_only=True):
    """What the extension sends to turn a code into a device token."""

    code: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    verifier: Annotated[str, msgspec.Meta(min_length=43, max_length=128)]


class PairedDevice(msgspec.Struct, frozen=True, kw_only=True):
    """The new device token (shown this once), where the extension uploads to, and which
    account it is paired with."""

    token_id: str
    device: str
    token: str
    gateway_url: str
    account: Annotated[
        str,
        msgspec.Meta(
            description=(
                "Opaque identifier of the account (not its address): the same for every"
                " pairing of the account, also after a sign out everywhere or a password"
                " change, until its data is erased, then another. The extension uploads"
                " what it queued only to the account it queued it for, and deletes what"
                " it queued for another when paired with this one."
            )
        ),
    ]


def gateway_url(settings: Settings) -> str:
    """The gateway's URL as the extension reaches it."""
    if settings.gateway_public_url:
        return settings.gateway_public_url.rstrip("/")
    return f"http://{settings.gateway_host}:{settings.gateway_port}"


async def _issue(
    request: Request[Any, Any, Any], settings: Settings, user: User, device: str, challenge: str
) -> str:
    login = session_hash(request.cookies.get(SESSION_COOKIE, "")).hex()
    pending = PendingCode(
        user_id=user.user_id, device=device.strip(), challenge=challenge, login=login
    )
    try:
        return await issue_code(request.app.state.redis, settings.key_prefix, pending)
    except PairingLimitedError as exc:
        raise HTTPException(
            status_code=429,
            detail="Too many pairing attempts. Try again in a minute.",
            headers={"Retry-After": str(exc.retry_after_s)},
        ) from exc


def _pair_page(user: User | None, status_code: int = 200, **context: Any) -> Template:
    base = {"user": user, "error": "", "challenge": "", "device": ""}
    return Template(
        template_name="pair.html",
        context={**base, **context},
        status_code=status_code,
    )


class PairingPages(Controller):
    """The pages the extension opens: confirm a device, then hand over the code."""

    include_in_schema = False
    cache_control = NO_STORE

    @get("/pair")
    async def confirm_form(
        self, maybe_user: User | None, challenge: str = "", device: str = ""
    ) -> Template:
        if not valid_challenge(challenge):
            return _pair_page(maybe_user, status_code=400, error=INVALID_LINK)
        return _pair_page(
            maybe_user, challenge=challenge, device=device.strip()[:100] or "My browser"
        )

    @post("/pair")
    async def confirm(
        self, request: Request[Any, Any, Any], user: User, settings: Settings, data: Form
    ) -> Response[Any]:
        challenge = data.get("challenge", "")
        device = data.get("device", "").strip()
        if not valid_challenge(challenge):
            return _pair_page(user, status_code=400, error=INVALID_LINK)
        if not 1 <= len(device) <= 100:
            return _pair_page(
                user,
                status_code=400,
                challenge=challenge,
                device=device[:100],
                error="Name the device (1 to 100 characters).",
            )
        code = await _issue(request, settings, user, device, challenge)
        return Redirect(path=f"/pair/done#code={code}", status_code=303)

    @get("/pair/done")
    async def done(self, maybe_user: User | None) -> Template:
        return Template(template_name="pair_done.html", context={"user": maybe_user})


class PairingApi(Controller):
    """``/v1/pairing``: one-time codes and their exchange for a device token."""

    path = "/v1/pairing"
    tags = ["pairing"]
    cache_control = NO_STORE

    @post("/codes", summary="Issue a one-time pairing code for a device", status_code=201)
    async def create_code(
        self,
        request: Request[Any, Any, Any],
        user: User,
        settings: Settings,
        data: PairingCodeRequest,
    ) -> PairingCode:
        if not data.device.strip():
            raise ValidationException("device: name the device (1 to 100 characters)")
        code = await _issue(request, settings, user, data.device, data.challenge)
        return PairingCode(code=code, device=data.device.strip(), expires_in_s=CODE_TTL_S)

    @post(
        "/exchange",
        summary="Exchange a pairing code and its PKCE verifier for a device token",
        status_code=200,
        exclude_from_csrf=True,
        security=[],
    )
    async def exchange(
        self,
        request: Request[Any, Any, Any],
        conn: Conn,
        settings: Settings,
        clock: Clock,
        data: PairingExchange,
    ) -> PairedDevice:
        pending = await take_code(
            request.app.state.redis, settings.key_prefix, data.code, data.verifier
        )
        if pending is None or not pending.login:
            raise ValidationException(INVALID_CODE)
        try:
            created = await actions.new_token(
                conn,
                pending.user_id,
                pending.device,
                login=bytes.fromhex(pending.login),
                now=utc_datetime(clock()),
            )
        except SignedOutError as exc:  # the sign-in that confirmed the code has ended
            raise ValidationException(INVALID_CODE) from exc
        except actions.ActionError as exc:
            raise ValidationException(str(exc)) from exc
        except psycopg.errors.ForeignKeyViolation as exc:  # the account was deleted meanwhile
            raise ValidationException(INVALID_CODE) from exc
        return PairedDevice(
            token_id=created.token_id,
            device=created.device,
            token=created.token,
            gateway_url=gateway_url(settings),
            account=account_ref(pending.user_id, await erased_at(conn, pending.user_id)),
        )
