"""The settings page, rendered by the settings forms and the account forms alike.

Device tokens (a new token's secret is shown here once: the page is sent with
``Cache-Control: no-store`` like every dynamic answer), recording preferences, email
reports, the account (address and its confirmation, password, signed-in browsers),
the AI provider and erasure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from litestar.response import Template

from mindhit.accounts import User, list_tokens
from mindhit.settings import Settings
from web import ops, store
from web.auth import login_count

__all__ = ["NOTICES", "settings_page"]

NOTICES = {
    "saved": "Settings saved. The extension picks up the block list within a few seconds.",
    "password": "Password changed. Every other browser was signed out.",
    "mail-sent": "We sent a confirmation link to your address. It works once, for two days.",
    "mail-limited": "Too many confirmation mails for now. Try again in an hour.",
}
"""Notices a redirect back to the page may ask for (``?notice=``), by key."""


async def settings_page(
    user: User,
    conn: psycopg.AsyncConnection[Any],
    settings: Settings,
    *,
    now: datetime,
    error: str = "",
    created: Any = None,
    notice: str = "",
    status: int = 200,
) -> Template:
    """The settings page for ``user`` (``created``: a new token to show once; ``notice``:
    a key of :data:`NOTICES`, or ``welcome`` for a new account)."""
    prefs = await store.get_preferences(conn, user.user_id)
    tokens = await list_tokens(conn, user.user_id)
    return Template(
        template_name="settings.html",
        status_code=status,
        context={
            "user": user,
            "prefs": prefs,
            "tokens": tokens,
            "created": created,
            "error": error,
            "welcome": notice == "welcome",
            "notice": NOTICES.get(notice, ""),
            "browsers": await login_count(conn, user.user_id, now=now),
            "mail_configured": bool(settings.smtp_url),
            "ai": ops.ai_status(settings),
            "gateway_url": f"http://{settings.gateway_host}:{settings.gateway_port}",
        },
    )
