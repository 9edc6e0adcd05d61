"""Typed row operations produced by the folds, and how two of them merge.

A fold never touches the database: it returns these operations (a visit's is its
``VisitClosed`` event itself, staged by its fields: a visit is only ever written whole). Within one
transaction the operations on one key are merged in Python first (PostgreSQL
cannot upsert one row twice in a statement), then applied with the same merge rule
in SQL (:mod:`projector.sql`). ``None`` means "this operation does not set the
column".

Merge rules are chosen so that the result does not depend on how the topics were
interleaved (raw and derived topics are read independently, and replay reads them
in a different order than the live loop):

* columns fed by several streams merge commutatively (``least``/``greatest``, or
  the status with the newest ``(status_at, rank, reason)``);
* columns fed by one stream only are last-writer-wins in that stream's order,
  which every reader preserves.

Every merge is idempotent, so a duplicated or redelivered event is a no-op.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

__all__ = [
    "STATUS_RANK",
    "EraseSession",
    "EraseUser",
    "MindmapRow",
    "PageTextRow",
    "SessionPatch",
    "UrlPatch",
    "merge_mindmap",
    "merge_session",
    "merge_url",
    "session_time",
]

STATUS_RANK: dict[str, int] = {"recording": 0, "processing": 1, "completed": 2, "failed": 3}

T = TypeVar("T")


def _least(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _greatest(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _lww(a: T | None, b: T | None) -> T | None:
    return a if b is None else b


class SessionPatch(msgspec.Struct, kw_only=True):
    """A change to one ``sessions`` row. Times are Unix milliseconds."""

    session_id: str
    user_id: str
    client_id: str | None = None
    label: str | None = None
    started_at: int | None = None
    stopped_at: int | None = None
    last_event_at: int | None = None
    status: str | None = None
    status_at: int | None = None
    status_reason: str | None = None
    active_ms: int | None = None
    page_count: int | None = None
    domain_count: int | None = None


def _status_key(p: SessionPatch) -> tuple[int, int, str]:
    return (p.status_at or 0, STATUS_RANK.get(p.status or "", -1), p.status_reason or "")


def merge_session(a: SessionPatch, b: SessionPatch) -> SessionPatch:
    """Merge ``b`` (later in its stream) into ``a``; see the module docstring for the rules."""
    if a.status is None:
        status_from = b
    elif b.status is None:
        status_from = a
    else:
        status_from = b if _status_key(b) > _status_key(a) else a
    return SessionPatch(
        session_id=a.session_id,
        user_id=a.user_id,
        client_id=_lww(a.client_id, b.client_id),
        label=_lww(a.label, b.label),
        started_at=_least(a.started_at, b.started_at),
        stopped_at=_greatest(a.stopped_at, b.stopped_at),
        last_event_at=_greatest(a.last_event_at, b.last_event_at),
        status=status_from.status,
        status_at=status_from.status_at,
        # A status always has a reason ("" for none), as the table stores it: two
        # patches tied on the status key then merge alike in either order.
        status_reason=(status_from.status_reason or "")
        if status_from.status is not None
        else status_from.status_reason,
        active_ms=_lww(a.active_ms, b.active_ms),
        page_count=_lww(a.page_count, b.page_count),
        domain_count=_lww(a.domain_count, b.domain_count),
    )


class UrlPatch(msgspec.Struct, kw_only=True):
    """A change to one ``urls`` row (discovery sets the page fields, enrichment the AI ones).

    The same URL version may be discovered or enriched from several partitions
    (several users), so both halves merge commutatively: the earliest discovery
    (``first_seen_at``, then ``user_id``) owns the page fields and the row, the
    newest enrichment (``enriched_at``, ``provider``, ``summary``) wins.
    """

    url_hash: str
    content_hash: str
    user_id: str
    discovered: bool = False
    url: str | None = None
    title: str | None = None
    domain: str | None = None
    lang: str | None = None
    first_seen_at: int | None = None
    summary: str | None = None
    tags: list[str] | None = None
    topic: str | None = None
    provider: str | None = None
    enriched_at: int | None = None


def _discovery_key(p: UrlPatch) -> tuple[int, str]:
    return (p.first_seen_at or 0, p.user_id)


def _enrichment_key(p: UrlPatch) -> tuple[int, str, str]:
    return (p.enriched_at or 0, p.provider or "", p.summary or "")


def merge_url(a: UrlPatch, b: UrlPatch) -> UrlPatch:
    """Merge two patches of one URL version; commutative, associative and idempotent."""
    if a.discovered and b.discovered:
        found = a if _discovery_key(a) <= _discovery_key(b) else b
    else:
        found = a if a.discovered or not b.discovered else b
    enriched = [p for p in (a, b) if p.enriched_at is not None]
    rich = max(enriched, key=_enrichment_key) if enriched else None
    owner = found if found.discovered else min(a, b, key=lambda p: p.user_id)
    return UrlPatch(
        url_hash=a.url_hash,
        content_hash=a.content_hash,
        user_id=owner.user_id,
        discovered=found.discovered,
        url=found.url,
        title=found.title,
        domain=found.domain,
        lang=found.lang,
        first_seen_at=found.first_seen_at,
        summary=rich.summary if rich else None,
        tags=rich.tags if rich else None,
        topic=rich.topic if rich else None,
        provider=rich.provider if rich else None,
        enriched_at=rich.enriched_at if rich else None,
    )


class PageTextRow(msgspec.Struct, kw_only=True):
    """The text of one content version; content-addressed, so the first write stays."""

    content_hash: str
    user_id: str
    lang: str
    text: str
    seen_at: int = 0


class MindmapRow(msgspec.Struct, kw_only=True):
    """One full ``mindmap_graphs`` row; ``graph`` is the JSON of the root node."""

    session_id: str
    user_id: str
    graph: bytes
    provider: str
    built_at: int


def merge_mindmap(a: MindmapRow, b: MindmapRow) -> MindmapRow:
    """A rebuilt mind map replaces the earlier one."""
    return b


class EraseUser(msgspec.Struct, kw_only=True):
    """Remove a user's rows recorded up to ``at`` (Unix ms) and remember the cut.

    Everything of theirs with an event time up to ``at`` is gone for good; what
    they record afterwards (the dashboard keeps the account) is projected again.
    """

    user_id: str
    at: int
    reason: str = ""
    delete_account: bool = False


class EraseSession(msgspec.Struct, kw_only=True):
    """Remove one session of a user for good: its rows, the texts only it held, its archive.

    Unlike :class:`EraseUser` there is no time cut: the session's events, whenever they
    arrive (a late upload, a rebuilt map), are dropped from then on.
    """

    user_id: str
    session_id: str
    reason: str = ""


def session_time(session_id: str) -> int | None:
    """When a session was created, from its UUIDv7 id (None for other id versions).

    Everything about a session (status changes and mind maps derived long after,
    a late stop) then falls on the same side of an erasure's cut as its start.
    """
    if len(session_id) == 36 and session_id[14] == "7":
        try:
            return int(session_id[:8] + session_id[9:13], 16)
        except ValueError:
            return None
    return None
