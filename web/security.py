"""Browser security: the strict Content-Security-Policy and friends, cookies, the secret key.

Everything the dashboard shows may come from arbitrary websites (titles, page text, AI
output), so the browser is told to run no inline script or style, load nothing from
other origins, and never frame the dashboard.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from mindhit.settings import Settings
from web.auth import SESSION_TTL

__all__ = [
    "CSP",
    "DEVICE_COOKIE",
    "SESSION_COOKIE",
    "SecurityHeadersMiddleware",
    "cookie_secure",
    "derived_key",
    "login_cookie",
    "secret_key",
]

SESSION_COOKIE = "mh_session"
DEVICE_COOKIE = "mh_device"
"""The known-device cookie (:mod:`web.throttle`): this browser signed in to the account."""

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)

_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


class SecurityHeadersMiddleware:
    """ASGI middleware adding the security headers to every HTTP response.

    Every answer but the static assets also gets ``Cache-Control: no-store``: pages and
    API answers carry a user's history, and some carry secrets (a new device token,
    one-time links), which no browser or proxy cache may keep.
    """

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in _HEADERS.items():
                    headers[name] = value
                if not scope["path"].startswith("/static/"):
                    headers["cache-control"] = "no-store"
                if self.hsts:
                    headers["strict-transport-security"] = "max-age=31536000"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def cookie_secure(settings: Settings) -> bool:
    """Cookies are ``Secure`` whenever the dashboard is reached over HTTPS or in production."""
    return settings.public_url.startswith("https://") or settings.env == "production"


def login_cookie(value: str, settings: Settings, *, clear: bool = False) -> Cookie:
    """The sign-in session cookie (``clear``: one that deletes it)."""
    return Cookie(
        key=SESSION_COOKIE,
        value="" if clear else value,
        max_age=0 if clear else int(SESSION_TTL.total_seconds()),
        httponly=True,
        secure=cookie_secure(settings),
        samesite="lax",
        path="/",
    )


def derived_key(secret: str, purpose: str) -> str:
    """A key for one purpose derived from the signing secret (never the secret itself)."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def secret_key(settings: Settings) -> str:
    """The cookie-signing secret: the setting, else one generated once into ``data_dir``."""
    if settings.secret_key:
        return settings.secret_key
    path: Path = settings.data_path / "web_secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value)
    tmp.chmod(0o600)
    tmp.replace(path)
    return value
