"""Small request helpers shared by the HTML pages and the JSON API."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import PermissionDeniedException

from mindhit.accounts import User
from mindhit.emails import EmailError, normalize_email

__all__ = [
    "admin_addresses",
    "client_address",
    "parse_cursor",
    "require_admin",
    "with_admin_rights",
]


def admin_addresses(listed: Iterable[str]) -> frozenset[str]:
    """``MINDHIT_ADMIN_EMAILS`` in canonical form (entries that are no address are dropped)."""
    found = set()
    for entry in listed:
        try:
            found.add(normalize_email(entry))
        except EmailError:
            continue
    return frozenset(found)


def with_admin_rights(user: User, listed: frozenset[str]) -> User:
    """``user`` with ``is_admin`` as it applies to this request.

    Admins are the users the operator flagged (``mindhit user create --admin``,
    ``mindhit user admin EMAIL``), and users whose address is listed in
    ``MINDHIT_ADMIN_EMAILS`` *and confirmed*: signing up with a listed address proves
    nothing until its owner opens the confirmation link mailed to it.
    """
    if user.is_admin or not user.email_confirmed:
        return user
    try:
        listed_here = normalize_email(user.email) in listed
    except EmailError:
        listed_here = False
    return msgspec.structs.replace(user, is_admin=True) if listed_here else user


def require_admin(user: User) -> None:
    """Refuse anyone who is not an admin (see :func:`with_admin_rights`)."""
    if not user.is_admin:
        raise PermissionDeniedException("Only administrators may open the ops page.")


def client_address(request: Request[Any, Any, Any]) -> str:
    """The client's address (forwarded headers already resolved by ``web.proxies``)."""
    return request.client.host if request.client else "unknown"


def parse_cursor(before: str | None) -> datetime | None:
    """The ``before`` paging cursor (an ISO time), or ``None`` when absent or malformed."""
    if not before:
        return None
    try:
        return datetime.fromisoformat(before.replace("Z", "+00:00"))
    except ValueError:
        return None
