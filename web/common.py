"""Small request helpers shared by the HTML pages and the JSON API."""

from __future__ import annotations

from datetime import datetime

from litestar.exceptions import PermissionDeniedException

from mindhit.accounts import User

__all__ = ["parse_cursor", "require_admin"]


def require_admin(user: User) -> None:
    """Admins are flagged users and ``MINDHIT_ADMIN_EMAILS`` (folded in by the user lookup)."""
    if not user.is_admin:
        raise PermissionDeniedException("Only administrators may open the ops page.")


def parse_cursor(before: str | None) -> datetime | None:
    """The ``before`` paging cursor (an ISO time), or ``None`` when absent or malformed."""
    if not before:
        return None
    try:
        return datetime.fromisoformat(before.replace("Z", "+00:00"))
    except ValueError:
        return None
