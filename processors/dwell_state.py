"""What the dwell fold keeps per user, and what one fold call gives back besides it.

Plain data (msgspec Structs): the fold in :mod:`processors.dwell` reads a
:class:`UserState` and returns a new one; the state store keeps it as msgpack.
New fields get defaults, so a state saved by an older build still decodes.
"""

from __future__ import annotations

import msgspec

from processors.urls import domain_of, normalize_url, url_hash
from schema.derived import DerivedBase, SessionClosed, SessionPage, SessionStatusChanged

__all__ = [
    "LATE_REASON",
    "NO_WINDOW",
    "UNKNOWN_WINDOW",
    "ClientState",
    "FoldResult",
    "Gap",
    "OpenVisit",
    "PageTotal",
    "SessionState",
    "StoppedClient",
    "Tab",
    "UserState",
    "copy_state",
    "count_visit",
    "decode_state",
    "encode_state",
    "late_session_failed",
    "session_closed",
    "uncount_visit",
]

UNKNOWN_WINDOW = -2
"""``focused_window`` before any focus event: the first activated tab's window is taken."""
NO_WINDOW = -1


class Tab(msgspec.Struct, array_like=True, gc=False):
    """What the fold remembers of one browser tab."""

    window_id: int
    url: str
    title: str = ""
    audible: bool = False
    content_url: str = ""
    content_hash: str = ""


class OpenVisit(msgspec.Struct, array_like=True, gc=False):
    """The visit currently open on a client."""

    opened_seq: int
    tab_id: int
    url: str
    title: str
    start_ts: int
    content_hash: str = ""
    emitted: bool = False
    """Sent before (closed by a stop, then reopened by a late event): a correction is
    sent however short it turns out, or the longer earlier version would stay."""


class ClientState(msgspec.Struct, kw_only=True):
    """One extension install: its browser state as the fold knows it.

    ``idle_from`` is the pending idle start under an idle threshold (the client's
    event time from which the user counts as idle), or -1 when none is pending; while
    one is pending the user is not idle yet (``idle`` is false).
    """

    session_id: str = ""
    last_seq: int = -1
    last_ts: int = 0
    focused_window: int = UNKNOWN_WINDOW
    idle: bool = False
    tabs: dict[int, Tab] = {}
    active: dict[int, int] = {}
    visit: OpenVisit | None = None
    idle_from: int = -1


class PageTotal(msgspec.Struct, array_like=True, gc=False):
    """Dwell of one distinct page within a session so far."""

    url: str
    title: str
    domain: str
    dwell_ms: int
    content_hash: str = ""


class StoppedClient(msgspec.Struct, array_like=True, gc=False):
    """A client as a session's stop found it: what to restore for its late events."""

    last_ts: int
    """The client's clock before the stop closed its visit (the stop may push it on)."""
    visit: OpenVisit | None = None
    """The visit the stop closed."""
    end_ts: int = 0
    """Where the stop closed it."""
    counted: bool = False
    """Whether that visit's dwell went into the session's totals (it was long enough)."""
    after_ts: int = 0
    """The client's clock right after the stop: while it still reads this, nothing of the
    client came since, so its late events may reopen the session without overlapping."""


class SessionState(msgspec.Struct, kw_only=True):
    """A session of the user: open, or recently stopped (``UserState.closed``)."""

    started_ts: int
    last_end_ts: int = 0
    active_ms: int = 0
    pages: dict[str, PageTotal] = {}
    stopped_ts: int = -1
    """When it was stopped (``session.closed``'s ``stopped_ts``); -1 while open."""
    stopped_clients: dict[str, StoppedClient] = {}


class UserState(msgspec.Struct, kw_only=True):
    """Everything the fold keeps for one user (all their clients and open sessions).

    ``closed`` keeps the few most recently stopped sessions whole, so an upload that
    arrives after a stop but was recorded before it still folds into its session.
    """

    clients: dict[str, ClientState] = {}
    sessions: dict[str, SessionState] = {}
    stopped: list[str] = []
    closed: dict[str, SessionState] = {}

    def is_idle(self) -> bool:
        """Whether nothing of this user is open (no session), so it can leave memory."""
        return not self.sessions


class Gap(msgspec.Struct, frozen=True):
    """Events missing from a client's sequence: ``expected`` came as ``got``."""

    client_id: str
    expected: int
    got: int


class FoldResult(msgspec.Struct):
    """What one fold call produced besides the state."""

    derived: list[DerivedBase]
    gaps: list[Gap]
    duplicates: int = 0
    late: int = 0


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(UserState)


def encode_state(state: UserState) -> bytes:
    """Serialize a user's state (for the state store)."""
    return _encoder.encode(state)


def decode_state(data: bytes) -> UserState:
    """Deserialize a user's state."""
    return _decoder.decode(data)


def copy_state(state: UserState) -> UserState:
    """A deep copy of ``state`` that shares nothing with it (the fold works on one)."""
    return _decoder.decode(_encoder.encode(state))


# --- a session's totals ---


def count_visit(
    session: SessionState,
    visit: OpenVisit,
    normalized: str,
    end: int,
    uhash: str = "",
    domain: str | None = None,
) -> None:
    """Add a closed visit to its session's totals (active time, per-page dwell).

    ``uhash`` and ``domain`` are ``normalized``'s :func:`~processors.urls.url_hash` and
    :func:`~processors.urls.domain_of` when the caller has them already (else computed).
    """
    dwell = end - visit.start_ts
    session.active_ms += dwell
    if end > session.last_end_ts:
        session.last_end_ts = end
    uhash = uhash or url_hash(normalized)
    total = session.pages.get(uhash)
    if total is None:
        session.pages[uhash] = PageTotal(
            normalized,
            visit.title,
            domain_of(normalized) if domain is None else domain,
            dwell,
            visit.content_hash,
        )
        return
    total.dwell_ms += dwell
    if visit.content_hash:
        total.content_hash = visit.content_hash
    if visit.title:
        total.title = visit.title


def uncount_visit(session: SessionState, visit: OpenVisit, end: int) -> None:
    """Take back what :func:`count_visit` added for a visit that is open again."""
    dwell = end - visit.start_ts
    session.active_ms -= dwell
    uhash = url_hash(normalize_url(visit.url))
    total = session.pages.get(uhash)
    if total is not None:
        total.dwell_ms -= dwell  # kept at 0 (not deleted): the pages keep their order


def session_closed(user_id: str, sid: str, session: SessionState, ts: int) -> SessionClosed:
    """The ``session.closed`` event of ``session``, stopped at ``ts``."""
    pages = [
        SessionPage(
            url_hash=uhash,
            url=total.url,
            title=total.title,
            domain=total.domain,
            dwell_ms=total.dwell_ms,
            content_hash=total.content_hash,
        )
        for uhash, total in sorted(session.pages.items(), key=lambda kv: -kv[1].dwell_ms)
        if total.dwell_ms > 0
    ]
    return SessionClosed(
        user_id=user_id,
        session_id=sid,
        started_ts=session.started_ts,
        stopped_ts=max(ts, session.started_ts, session.last_end_ts),
        active_ms=session.active_ms,
        page_count=len(pages),
        domain_count=len({page.domain for page in pages}),
        pages=pages,
    )


LATE_REASON = (
    "Its events reached MindHit too late to be counted: more than 7 days (by default)"
    " after they were recorded."
)
"""Why a session the fold never saw, stopped before its horizon, failed."""


def late_session_failed(user_id: str, sid: str, ts: int) -> SessionStatusChanged:
    """``session.status`` *failed* for a session whose stop came too late to be folded.

    Dated at the stop (the client's time): a session completed before its state expired
    has a later status (the mind map's, in server time), which the projector keeps.
    """
    return SessionStatusChanged(
        user_id=user_id, session_id=sid, status="failed", ts=ts, reason=LATE_REASON
    )
