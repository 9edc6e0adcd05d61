"""URL versions a raw entry brings: the candidate ``url.discovered`` events of its users.

Pure functions of the raw handler (:mod:`processors.agents.raw`): which candidates are
new is decided by the content store.
"""

from __future__ import annotations

from collections.abc import Sequence

from processors.urls import domain_of, normalize_url, url_hash
from schema.derived import DerivedBase, UrlDiscovered, VisitClosed
from schema.events import ClientEvent, PageContent

__all__ = ["content_versions", "url_versions", "version_of", "visited_version"]


def url_versions(
    user_id: str, events: Sequence[ClientEvent], derived: list[DerivedBase]
) -> dict[tuple[str, str], UrlDiscovered]:
    """Candidate ``url.discovered`` events of one user's batch, keyed by URL version.

    Page contents give versions (their text may be empty when the client or the
    gateway left out text already known by hash: the handler fills it in from the
    content store); a visited URL whose content never arrived gives a text-less
    version (``content_hash == ""``) so the URL still gets a row downstream. Pure:
    which candidates are new is decided by the store.
    """
    found = content_versions(user_id, events)
    for visit in derived:
        if isinstance(visit, VisitClosed):
            key = (visit.url_hash, "")
            if key not in found:
                found[key] = visited_version(visit)
    return found


def visited_version(visit: VisitClosed) -> UrlDiscovered:
    """The text-less ``url.discovered`` of a visited URL (see :func:`url_versions`)."""
    return UrlDiscovered(
        user_id=visit.user_id,
        url_hash=visit.url_hash,
        url=visit.url,
        domain=visit.domain,
        title=visit.title,
        first_seen_ts=visit.start_ts,
    )


def content_versions(
    user_id: str, events: Sequence[ClientEvent]
) -> dict[tuple[str, str], UrlDiscovered]:
    """The versions :func:`url_versions` takes from page contents."""
    found: dict[tuple[str, str], UrlDiscovered] = {}
    for event in events:
        if isinstance(event, PageContent):
            normalized = normalize_url(event.url)
            key = (url_hash(normalized), event.content_hash)
            if key not in found:
                found[key] = UrlDiscovered(
                    user_id=user_id,
                    url_hash=key[0],
                    url=normalized,
                    domain=domain_of(normalized),
                    title=event.title,
                    first_seen_ts=event.ts,
                    content_hash=event.content_hash,
                    lang=event.lang,
                    text=event.text,
                )
    return found


def version_of(candidate: UrlDiscovered | VisitClosed) -> UrlDiscovered:
    """A candidate's ``url.discovered`` (a visit stands for its :func:`visited_version`)."""
    return candidate if isinstance(candidate, UrlDiscovered) else visited_version(candidate)
