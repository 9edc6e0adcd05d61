"""Block lists: events about blocked domains never reach the log.

A user's list (``user_settings.blocked_domains``) and the global one
(``MINDHIT_BLOCKED_DOMAINS``) both name domains; a domain blocks itself and every
subdomain (``bank.com`` blocks ``www.bank.com`` but not ``mybank.com``). Only events
that carry a URL (tab activations/updates, page content) can match.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from schema.events import ClientEvent, PageContent, TabActivated, TabUpdated

__all__ = ["host_of", "is_blocked", "partition_blocked"]

_URL_EVENTS = (TabActivated, TabUpdated, PageContent)


def host_of(url: str) -> str:
    """The lower-case host of ``url`` without a trailing dot (``""`` when there is none)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return ""
    return (host or "").rstrip(".")


def is_blocked(url: str, blocked: frozenset[str]) -> bool:
    """Whether ``url``'s host is a blocked domain or a subdomain of one."""
    if not blocked:
        return False
    host = host_of(url)
    while host:
        if host in blocked:
            return True
        _, dot, rest = host.partition(".")
        host = rest if dot else ""
    return False


def partition_blocked(
    events: Iterable[ClientEvent], blocked: frozenset[str]
) -> tuple[list[ClientEvent], int]:
    """Split events into those kept and the number dropped for the block list."""
    events = list(events)
    if not blocked:
        return events, 0
    kept = [
        event
        for event in events
        if not (isinstance(event, _URL_EVENTS) and is_blocked(event.url, blocked))
    ]
    return kept, len(events) - len(kept)
