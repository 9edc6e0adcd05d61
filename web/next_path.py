"""Where to go after signing in: the ``next`` parameter, and only ever a page of ours.

A signed-out visitor of a dashboard page is sent to ``/login?next=<that page>`` and,
signed in, back to it. Anyone can write such a link, so ``next`` is followed only when it
is a path on this origin: one leading ``/`` and then no second ``/`` or ``\\`` (browsers
read ``//evil`` and ``/\\evil`` as another host), no scheme (``https:``, ``javascript:``),
no whitespace or control characters (browsers drop tabs and newlines from URLs, turning
``/\\t/evil`` into ``//evil``), no backslash anywhere: only the characters of a URL.
Anything else is ignored: the user lands on the session list as without ``next``.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

__all__ = ["MAX_NEXT", "login_path", "safe_next"]

MAX_NEXT = 2000
"""Longer ``next`` values are ignored (a real page's path and query are far shorter)."""

_AUTH_PAGES = ("/login", "/logout", "/signup")
_URL_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
"""The characters of a URL (RFC 3986); a browser sends anything else percent-encoded."""


def safe_next(value: str | None) -> str | None:
    """``value`` when it is a same-origin relative path worth returning to, else None."""
    if not value or len(value) > MAX_NEXT:
        return None
    if not _URL_CHARS.fullmatch(value):  # no spaces, controls, quotes or angle brackets
        return None
    if not value.startswith("/") or value[1:2] in ("/", "\\") or "\\" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    if parts.path.rstrip("/") in _AUTH_PAGES:
        return None  # signing in again, or out, is not a place to return to
    return value


def login_path(target: str | None) -> str:
    """The sign-in page that returns to ``target`` afterwards (when it is safe)."""
    safe = safe_next(target)
    return "/login" if safe is None else f"/login?next={quote(safe, safe='')}"
