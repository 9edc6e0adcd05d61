"""Derived events: facts the processors compute from the raw log.

They are produced server-side, so they carry ``user_id``. Each has a
deterministic identity (``visit_id``, ``url_hash`` + ``content_hash``,
``session_id``), so a redelivered input can never create a second row
downstream. Add new types here as later stages need them (additively).
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = [
    "DeadLettered",
    "DerivedBase",
    "DerivedEvent",
    "MindmapBuilt",
    "MindmapNode",
    "SessionClosed",
    "SessionErased",
    "SessionPage",
    "SessionStatusChanged",
    "UrlDiscovered",
    "UrlEnriched",
    "UserErased",
    "VisitClosed",
    "VisitRows",
    "VisitsClosed",
]

SessionStatus = Literal["recording", "processing", "completed", "failed"]


class DerivedBase(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Fields every derived event carries: whose data it is and when it was derived."""

    user_id: str
    v: Literal[1] = 1


class VisitClosed(DerivedBase, frozen=True, tag="visit.closed"):
    """One closed visit: a page was the active tab of the focused window from start to end.

    ``visit_id`` is ``deterministic_id(user_id, client_id, opened_seq)``. ``dwell_ms`` counts
    only attended time (idle excluded unless media was playing), so it can be less
    than ``end_ts - start_ts``.
    """

    visit_id: str
    client_id: str
    session_id: str
    tab_id: int
    url: str
    url_hash: str
    domain: str
    title: str
    start_ts: int
    end_ts: int
    dwell_ms: int
    opened_seq: int
    end_reason: str = ""
    content_hash: str = ""


class VisitsClosed(DerivedBase, frozen=True, tag="visits.closed"):
    """One user's closed visits of one derived entry, as columns: ``visit_id[i]``,
    ``client_id[i]``, ... are the fields of the ``i``-th :class:`VisitClosed`.

    Why: decoding one struct of 15 fields per visit, and reading the staging columns back
    out of those structs, was most of the projector's CPU beyond a raw COPY (issue 14,
    bench/HISTORY.md). Columns decode into plain lists the projector stages as they are.
    Builds before :class:`VisitRows` wrote it (:func:`schema.visits.columnar`); the
    processors still write it for a run of visits rows cannot hold
    (:func:`mindhit.visit_rows.as_rows`). Every reader (projector, archive, session
    erasure) also takes :class:`VisitClosed`, which earlier builds wrote and the log and
    archive keep. Every column
    is another process's claim: a reader checks the ids and that the columns are equally
    long (:func:`schema.visits.columns_agree`).
    """

    visit_id: list[str]
    client_id: list[str]
    session_id: list[str]
    tab_id: list[int]
    url: list[str]
    url_hash: list[str]
    domain: list[str]
    title: list[str]
    start_ts: list[int]
    end_ts: list[int]
    dwell_ms: list[int]
    opened_seq: list[int]
    end_reason: list[str]
    content_hash: list[str]


class VisitRows(DerivedBase, frozen=True, tag="visits.rows"):
    """One user's closed visits of one derived entry as the rows of a PostgreSQL binary COPY
    into the projector's visits staging table: layout ``layout``, ``count`` rows, no header
    or trailer.

    Why: the projector COPYs these bytes as they are instead of building a row per visit,
    ~0.28 s less of its CPU per 100,000 visits (issue 14). Layout 1 is the projector's
    visits staging columns in their staged types (ids as a UUID's 16 bytes, times as
    microseconds since 2000: :data:`mindhit.visit_rows.LAYOUT_1`). The processors write
    it (:func:`mindhit.visit_rows.as_rows`); every reader also takes :class:`VisitClosed`
    and :class:`VisitsClosed`, which earlier builds wrote. The bytes are another
    process's claim: a reader checks the layout, the row count and that every row is
    ``user_id``'s.
    """

    layout: int
    count: int
    rows: bytes


class UrlDiscovered(DerivedBase, frozen=True, tag="url.discovered"):
    """A normalized URL (with a given content version) was seen for the first time."""

    url_hash: str
    url: str
    domain: str
    title: str
    first_seen_ts: int
    content_hash: str = ""
    lang: str = ""
    text: str = ""


class UrlEnriched(DerivedBase, frozen=True, tag="url.enriched"):
    """The AI summary, tags and topic for one content version of a URL."""

    url_hash: str
    content_hash: str
    summary: str
    tags: list[str]
    topic: str
    provider: str
    enriched_ts: int


class SessionPage(msgspec.Struct, frozen=True, kw_only=True):
    """One distinct page of a closed session with its summed dwell (mind-map input)."""

    url_hash: str
    url: str
    title: str
    domain: str
    dwell_ms: int
    content_hash: str = ""


class SessionClosed(DerivedBase, frozen=True, tag="session.closed"):
    """A session stopped and every open visit in it was closed.

    ``pages`` lists the session's distinct pages with their summed dwell, so the
    mind-map stage needs nothing but this event and the content store.
    """

    session_id: str
    started_ts: int
    stopped_ts: int
    active_ms: int
    page_count: int
    domain_count: int
    pages: list[SessionPage] = []


class SessionStatusChanged(DerivedBase, frozen=True, tag="session.status"):
    """The session moved through recording → processing → completed (or failed)."""

    session_id: str
    status: SessionStatus
    ts: int
    reason: str = ""


class MindmapNode(msgspec.Struct, frozen=True, kw_only=True):
    """A node of a session mind map: the root topic, a subtopic, or a page (a leaf with a url).

    ``summary`` is a subtopic's one-sentence summary. ``fallback_from`` is set on the root
    only, when the configured provider failed and the offline local provider built the
    map instead: it names the provider that failed.
    """

    label: str
    weight_ms: int = 0
    why: str = ""
    url: str = ""
    url_hash: str = ""
    children: list[MindmapNode] = []
    summary: str = ""
    fallback_from: str = ""


class MindmapBuilt(DerivedBase, frozen=True, tag="mindmap.built"):
    """The mind map of a finished session."""

    session_id: str
    root: MindmapNode
    provider: str
    built_ts: int


class UserErased(DerivedBase, frozen=True, tag="user.erased"):
    """The user asked to erase all their data; projections drop their rows for good."""

    ts: int
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""


class SessionErased(DerivedBase, frozen=True, tag="session.erased"):
    """The user deleted one session (or retention expired it): its rows go for good.

    Every projection drops the session's rows (visits, map, the page texts only it
    held) and its archived events, and skips the session's events from then on; the
    processors release the user's hold on ``content_hashes`` in the content store.
    """

    session_id: str
    ts: int
    reason: Annotated[str, msgspec.Meta(max_length=200)] = ""
    content_hashes: list[str] = []
    """Page texts the user held only through this session (the processors release them)."""


class DeadLettered(DerivedBase, frozen=True, tag="dead.lettered"):
    """Work that failed (an enrichment or a mind map), kept with its error for a retry.

    ``payload`` is an encoded :class:`schema.log.DerivedEntry` holding the work item
    exactly as it was consumed; retrying re-appends it to ``source_topic``
    (partition ``partition``). ``dlq_id`` is deterministic per work item and failure
    time, so a redelivered failure is listed once.
    """

    dlq_id: str
    kind: Literal["enrich", "mindmap"]
    key: str
    error: str
    failed_ts: int
    source_topic: str
    partition: int
    payload: bytes
    attempts: int = 1


DerivedEvent = (
    VisitClosed
    | VisitsClosed
    | VisitRows
    | UrlDiscovered
    | UrlEnriched
    | SessionClosed
    | SessionStatusChanged
    | MindmapBuilt
    | UserErased
    | SessionErased
    | DeadLettered
)
