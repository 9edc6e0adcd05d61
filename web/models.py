"""Shapes of the dashboard's JSON API (``/v1/...``): what the OpenAPI document describes.

The HTML pages render the same Structs, so the page and the API can never disagree.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from web.outline import MindmapGraph
from web.timeline import DomainTotal, TimelineEntry

__all__ = [
    "Account",
    "CreatedToken",
    "DeadLetterItem",
    "ErasureResult",
    "LagRow",
    "MindmapView",
    "NewToken",
    "SearchHit",
    "SearchResults",
    "SessionControlResult",
    "SessionList",
    "SessionRef",
    "SessionSummary",
    "SessionTimeline",
    "UserHealth",
    "UserPreferences",
]

DisplayStatus = Literal["recording", "processing", "ready", "failed"]


class Account(msgspec.Struct, frozen=True, kw_only=True):
    """The signed-in user: admin rights as they apply, whether the address is confirmed
    (reports are mailed only then) and whether a password is set."""

    user_id: str
    email: str
    is_admin: bool
    email_confirmed: bool = False
    has_password: bool = True


class SessionSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the session list."""

    session_id: str
    status: DisplayStatus
    reason: str
    label: str
    started_at: str | None
    stopped_at: str | None
    duration_ms: int | None
    active_ms: int
    page_count: int
    domain_count: int
    top_domains: list[str]


class SessionList(msgspec.Struct, frozen=True, kw_only=True):
    """A page of sessions, newest first; pass ``next_before`` as ``before`` for the next page."""

    sessions: list[SessionSummary]
    next_before: str | None = None


class SessionTimeline(msgspec.Struct, frozen=True, kw_only=True):
    """A session with its visits in order, idle gaps and per-domain totals."""

    session: SessionSummary
    entries: list[TimelineEntry]
    domains: list[DomainTotal]
    total_dwell_ms: int


class MindmapView(msgspec.Struct, frozen=True, kw_only=True):
    """A session's mind map: the tree flattened to nodes and edges, plus who built it.

    ``fallback_from`` names the AI provider that failed when the offline local provider
    built the map instead (empty when the configured provider built it).
    """

    session_id: str
    provider: str
    built_at: str
    graph: MindmapGraph
    fallback_from: str = ""


class SessionRef(msgspec.Struct, frozen=True, kw_only=True):
    """A session a search hit was read in."""

    session_id: str
    started_at: str | None


class SearchHit(msgspec.Struct, frozen=True, kw_only=True):
    """A page the user read that matches the query.

    ``snippet`` is plain text; the matched words are the ``highlights`` (character ranges
    ``[start, end)`` into ``snippet``) so no markup ever travels inside text.
    """

    url: str
    title: str
    domain: str
    summary: str
    topic: str
    tags: list[str]
    snippet: str
    highlights: list[tuple[int, int]]
    sessions: list[SessionRef]


class SearchResults(msgspec.Struct, frozen=True, kw_only=True):
    """Search answer."""

    query: str
    hits: list[SearchHit]


Domain = Annotated[str, msgspec.Meta(min_length=1, max_length=253)]


class UserPreferences(msgspec.Struct, frozen=True, kw_only=True):
    """The user's privacy and recording settings (also ``PUT /v1/settings`` body)."""

    blocked_domains: Annotated[list[Domain], msgspec.Meta(max_length=500)] = []
    idle_threshold_s: Annotated[int, msgspec.Meta(ge=15, le=3600)] = 60
    email_reports: bool = False


class NewToken(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /v1/tokens`` body."""

    device: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class CreatedToken(msgspec.Struct, frozen=True, kw_only=True):
    """A new device token; ``token`` is shown this once and stored only hashed."""

    token_id: str
    device: str
    token: str


class SessionControlResult(msgspec.Struct, frozen=True, kw_only=True):
    """Answer to starting or stopping a session from the dashboard."""

    session_id: str
    status: str


class LagRow(msgspec.Struct, frozen=True, kw_only=True):
    """How far one consumer (a processor group or a projection) is behind on one partition."""

    consumer: str
    topic: str
    partition: int
    lag: int


class UserHealth(msgspec.Struct, frozen=True, kw_only=True):
    """The user's view of the pipeline: when their last event arrived, whether it keeps up.

    ``max_lag`` is the entries waiting on the user's partition when it is ``behind``, else
    0 (the partition is shared: a smaller count would show other users' uploads).
    """

    last_event_at: str | None
    recording_sessions: int
    processing_sessions: int
    behind: bool
    max_lag: int
    ai_provider: str
    ai_status: str


class DeadLetterItem(msgspec.Struct, frozen=True, kw_only=True):
    """One message a processor gave up on, as shown on the ops page."""

    id: str
    source: str
    reason: str
    at: str
    attempts: int = 0
    status: str = "pending"
    user_id: str = ""


class ErasureResult(msgspec.Struct, frozen=True, kw_only=True):
    """Answer to ``POST /v1/erase``: the erasure is recorded; read tables empty shortly.

    ``tokens_revoked``: how many active device tokens ended (every token of the user is
    deleted, names included). The block list is kept."""

    erased: bool
    tokens_revoked: int
