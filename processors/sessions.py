"""Session lifecycle: recording → processing → completed, or failed with a reason.

Pure functions only. The dwell fold closes a session (``session.closed``); the
mind-map stage then moves it through ``processing`` to ``completed`` or
``failed``. :func:`transition` refuses moves the lifecycle does not allow, so a
redelivered or retried message can never move a completed session backwards
(a failed session may be retried: failed → processing is allowed).
"""

from __future__ import annotations

from collections.abc import Mapping

from processors.ai.base import MindmapPage
from processors.content import CachedEnrichment
from schema.derived import SessionClosed, SessionStatusChanged
from schema.privacy import is_page_url

__all__ = [
    "ALLOWED",
    "LifecycleError",
    "foreign_session",
    "mindmap_pages",
    "status_event",
    "transition",
]

ALLOWED: dict[str, frozenset[str]] = {
    "recording": frozenset({"processing", "failed"}),
    "processing": frozenset({"completed", "failed", "processing"}),
    "failed": frozenset({"processing"}),
    "completed": frozenset(),
}
"""Status → the statuses it may move to."""

MAX_REASON = 500
MAX_PAGE_TEXT = 20_000


class LifecycleError(ValueError):
    """A status change the lifecycle does not allow (e.g. completed → processing)."""


def transition(current: str, new: str) -> str:
    """Return ``new`` if a session in ``current`` may move there, else raise."""
    if new not in ALLOWED.get(current, frozenset()):
        raise LifecycleError(f"session cannot go from {current} to {new}")
    return new


def foreign_session(closed: SessionClosed, owner: str | None) -> bool:
    """Whether ``closed`` is another user's session (its recorded ``owner`` is not them).

    A session with no recorded owner (recorded before ownership keys) is not refused
    here: the gateway claims every session on its first event, and the projector keeps
    a stored session's row to its owner.
    """
    return owner is not None and owner != closed.user_id


def status_event(
    closed: SessionClosed, status: str, ts: int, reason: str = ""
) -> SessionStatusChanged:
    """The ``session.status`` event for ``closed`` entering ``status`` at ``ts``."""
    return SessionStatusChanged(
        user_id=closed.user_id,
        session_id=closed.session_id,
        status=status,  # type: ignore[arg-type]
        ts=ts,
        reason=" ".join(reason.split())[:MAX_REASON],
    )


def mindmap_pages(
    closed: SessionClosed,
    texts: Mapping[str, str],
    enrichments: Mapping[tuple[str, str], CachedEnrichment],
) -> list[MindmapPage]:
    """The mind-map input of a closed session: its pages with dwell, text and enrichment.

    Args:
        closed: the session, whose ``pages`` carry the summed dwell per page.
        texts: page text by content hash (from the content store).
        enrichments: cached enrichments by ``(url_hash, content_hash)``.
    """
    pages: list[MindmapPage] = []
    for page in closed.pages:
        if page.dwell_ms <= 0 or not is_page_url(page.url):
            continue  # a non-page from an older fold is never a branch of the map
        found = enrichments.get((page.url_hash, page.content_hash))
        pages.append(
            MindmapPage(
                url=page.url,
                title=page.title,
                text=texts.get(page.content_hash, "")[:MAX_PAGE_TEXT],
                dwell_ms=page.dwell_ms,
                url_hash=page.url_hash,
                summary=found.summary if found else "",
                tags=list(found.tags) if found else [],
                topic=found.topic if found else "",
            )
        )
    return pages
