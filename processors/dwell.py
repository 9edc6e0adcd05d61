"""The dwell fold: a user's raw transitions in, closed visits and closed sessions out.

Pure logic, no I/O: :func:`fold` takes a user's state and a batch of that user's
client events (in log order) and returns the state and the derived events. The
agent around it only decodes, folds and sends.

Rules (per client, i.e. per extension install):

* A visit is open while the client's session is active, the page is the active tab
  of the focused window, and the user is not idle — or the page is audible/playing.
* Every event re-evaluates that condition ("reconcile"): when the page that should
  be open differs from the open visit (another tab, another window, blur, tab closed,
  navigation or SPA history change to another URL, idle or locked without media),
  the open visit closes at the event's time and the next one opens with the event's
  ``seq`` (``visit_id = deterministic_id(user_id, client_id, opened_seq)``: another
  user reusing the same ``client_id`` and ``seq`` names other visits).
* Time per client never runs backwards (a client's ``ts`` is clamped to its last one),
  so a client's visits never overlap; a ``session.stopped`` (from any client of the
  user, e.g. the gateway's ``server`` client) closes the open visits of every client
  in that session at the stop time, so no visit extends beyond its session.
* ``(client_id, seq)`` at or below the client's highest seen ``seq`` is a duplicate
  and is ignored; a jump in ``seq`` is reported as a :class:`Gap` (never guessed over).
* Events of an already stopped session are ignored (counted as ``late``).
* Only web pages get visits: a tab showing anything else (``about:blank``, the
  ``about:blocked`` placeholder, any non-``http(s)`` URL; see :mod:`schema.privacy`) has
  no page, so switching to it closes the open visit and opens none.
* Visits shorter than :data:`MIN_VISIT_MS` are not emitted (quick tab flicks are not
  page views); their time counts for no page.
* Idle threshold ``T`` (``idle_threshold_ms``; 0 = idle exactly when the client reports
  it, as above). With ``T > 0`` an ``idle`` report carrying ``idle_for_s > 0`` says the
  user's last input was at ``ts - idle_for_s * 1000``, so the user counts as idle from
  ``B = last_input + T``, never before the client's previous event. If ``B <= ts`` the
  open visit closes at ``B``; otherwise idle is *pending* at ``B``: an ``active``
  before ``B`` cancels it (the visit goes on unbroken), and the first thing at or after
  ``B`` that concerns the client (its next event, or a ``session.stopped`` of its
  session) first makes the user idle at ``B`` — closing the visit there, reason
  ``idle`` — and then applies as usual. ``locked`` and ``idle`` with ``idle_for_s == 0``
  (a paused recording) take effect at ``ts`` whatever ``T``; an audible page stays open
  through idle either way.

The fold mutates and returns the state it is given (the caller owns it); it is
deterministic, so folding the same events once, with duplicates, or split into any
batches yields the same derived events and the same state.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from processors.urls import domain_of, normalize_url, url_hash
from schema.derived import DerivedBase, SessionClosed, SessionPage, VisitClosed
from schema.events import (
    ClientEvent,
    IdleState,
    MediaState,
    PageContent,
    SessionStarted,
    SessionStopped,
    TabActivated,
    TabRemoved,
    TabUpdated,
    WindowFocus,
)
from schema.ids import deterministic_id
from schema.privacy import is_page_url

__all__ = [
    "MAX_TABS",
    "MIN_VISIT_MS",
    "ClientState",
    "FoldResult",
    "Gap",
    "OpenVisit",
    "SessionState",
    "Tab",
    "UserState",
    "decode_state",
    "encode_state",
    "fold",
]

UNKNOWN_WINDOW = -2
"""``focused_window`` before any focus event: the first activated tab's window is taken."""
NO_WINDOW = -1
MAX_TABS = 200
"""Tabs remembered per client; the oldest inactive ones are forgotten beyond this."""
MAX_STOPPED = 32
"""Recently stopped sessions remembered per user (to ignore their late events)."""
MAX_TITLE = 300
MIN_VISIT_MS = 500
"""Shorter visits are flicks (tabbing through, a new tab on its way), not page views."""


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


class SessionState(msgspec.Struct, kw_only=True):
    """An active (not yet stopped) session of the user."""

    started_ts: int
    last_end_ts: int = 0
    active_ms: int = 0
    pages: dict[str, PageTotal] = {}


class UserState(msgspec.Struct, kw_only=True):
    """Everything the fold keeps for one user (all their clients and open sessions)."""

    clients: dict[str, ClientState] = {}
    sessions: dict[str, SessionState] = {}
    stopped: list[str] = []

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


def fold(
    state: UserState | None,
    user_id: str,
    events: Iterable[ClientEvent],
    *,
    idle_threshold_ms: int = 0,
) -> tuple[UserState, FoldResult]:
    """Fold one user's events (in log order) into ``state``.

    Args:
        state: the user's state, or ``None`` for a user seen for the first time.
            It is mutated and returned.
        user_id: whose events these are (from the log entry, never the client).
        events: the user's client events, in the order the log holds them.
        idle_threshold_ms: after how long without input the user counts as idle;
            0 = exactly when the client reports idle (see the module's rules). A
            user's events must always be folded with the same threshold.

    Returns:
        The state and a :class:`FoldResult` with the derived events in order.
    """
    st = state if state is not None else UserState()
    out = FoldResult(derived=[], gaps=[])
    for event in events:
        _apply(st, user_id, event, out, idle_threshold_ms)
    return st, out


def _apply(
    st: UserState, user_id: str, ev: ClientEvent, out: FoldResult, idle_threshold_ms: int
) -> None:
    client = st.clients.get(ev.client_id)
    if client is None:
        client = st.clients[ev.client_id] = ClientState()
    if ev.seq <= client.last_seq:
        out.duplicates += 1
        return
    if client.last_seq >= 0 and ev.seq != client.last_seq + 1:
        out.gaps.append(Gap(ev.client_id, client.last_seq + 1, ev.seq))
    client.last_seq = ev.seq
    previous_ts = client.last_ts
    ts = client.last_ts = max(ev.ts, client.last_ts)
    if 0 <= client.idle_from <= ts:
        _become_idle(st, user_id, ev.client_id, client, out)
    sid = ev.session_id
    if sid in st.stopped:
        out.late += 1
        return
    if client.session_id != sid:
        # The client moved to another session: what was open belongs to the old one.
        _close(st, user_id, ev.client_id, client, ts, "session_changed", out)
        client.session_id = sid
    if sid not in st.sessions:
        st.sessions[sid] = SessionState(started_ts=ts)

    reason = "switch"
    force_split = False
    if isinstance(ev, SessionStopped):
        _stop_session(st, user_id, sid, ts, out)
        return
    if isinstance(ev, SessionStarted):
        reason = "session_started"
    elif isinstance(ev, TabActivated):
        _remember_tab(client, ev.tab_id, ev.window_id, ev.url, ev.title)
        client.active[ev.window_id] = ev.tab_id
        if client.focused_window == UNKNOWN_WINDOW:
            client.focused_window = ev.window_id
    elif isinstance(ev, TabUpdated):
        tab = _remember_tab(client, ev.tab_id, ev.window_id, None, ev.title)
        visit = client.visit
        if ev.change != "title" and ev.url != tab.url:
            tab.url = ev.url
            force_split = visit is not None and visit.tab_id == ev.tab_id
        if visit is not None and visit.tab_id == ev.tab_id and ev.title and not force_split:
            visit.title = ev.title[:MAX_TITLE]  # a retitle of the page being read
        reason = "navigate"
    elif isinstance(ev, TabRemoved):
        client.tabs.pop(ev.tab_id, None)
        for window, tab_id in list(client.active.items()):
            if tab_id == ev.tab_id:
                del client.active[window]
        reason = "tab_closed"
    elif isinstance(ev, WindowFocus):
        client.focused_window = ev.window_id if ev.focused else NO_WINDOW
        reason = "switch" if ev.focused and ev.window_id != NO_WINDOW else "blur"
    elif isinstance(ev, IdleState):
        if idle_threshold_ms > 0 and ev.state == "idle" and ev.idle_for_s > 0:
            if not client.idle:
                start = max(ts - ev.idle_for_s * 1000 + idle_threshold_ms, previous_ts)
                if client.idle_from >= 0:
                    start = min(start, client.idle_from)
                client.idle_from = start
                if start <= ts:
                    _become_idle(st, user_id, ev.client_id, client, out)
        else:
            client.idle = ev.state != "active"
            client.idle_from = -1
        reason = ev.state
    elif isinstance(ev, MediaState):
        playing = client.tabs.get(ev.tab_id)
        if playing is not None:
            playing.audible = ev.audible or ev.playing
        reason = "idle"
    elif isinstance(ev, PageContent):
        shown = client.tabs.get(ev.tab_id)
        if shown is not None:
            shown.content_url = normalize_url(ev.url)
            shown.content_hash = ev.content_hash
        visit = client.visit
        if (
            visit is not None
            and visit.tab_id == ev.tab_id
            and normalize_url(visit.url) == normalize_url(ev.url)
        ):
            visit.content_hash = ev.content_hash
        return
    _reconcile(st, user_id, ev.client_id, client, ev.seq, ts, reason, force_split, out)


def _become_idle(
    st: UserState, user_id: str, client_id: str, client: ClientState, out: FoldResult
) -> None:
    """The pending idle start has been reached: the user is idle from ``idle_from``."""
    at = client.idle_from
    client.idle_from = -1
    client.idle = True
    # Only ``idle`` changed since the client was last reconciled, so the open visit
    # either stays (an audible page) or closes; nothing opens.
    if client.visit is not None and _current(client) is None:
        _close(st, user_id, client_id, client, at, "idle", out)


def _remember_tab(
    client: ClientState, tab_id: int, window_id: int, url: str | None, title: str
) -> Tab:
    tab = client.tabs.get(tab_id)
    if tab is None:
        if len(client.tabs) >= MAX_TABS:
            _forget_oldest_tab(client)
        tab = client.tabs[tab_id] = Tab(window_id=window_id, url=url or "")
    elif tab.window_id != window_id and window_id != NO_WINDOW:
        if client.active.get(tab.window_id) == tab_id:
            del client.active[tab.window_id]  # the tab was dragged to another window
        tab.window_id = window_id
    if url is not None and url != tab.url:
        tab.url = url
    if title:
        tab.title = title[:MAX_TITLE]
    return tab


def _forget_oldest_tab(client: ClientState) -> None:
    active = set(client.active.values())
    for tab_id in client.tabs:
        if tab_id not in active:
            del client.tabs[tab_id]
            return


def _current(client: ClientState) -> tuple[int, Tab] | None:
    """The page that should have an open visit on this client, if any."""
    if not client.session_id or client.focused_window < 0:
        return None
    tab_id = client.active.get(client.focused_window)
    if tab_id is None:
        return None
    tab = client.tabs.get(tab_id)
    if tab is None or not is_page_url(tab.url):
        return None
    if client.idle and not tab.audible:
        return None
    return tab_id, tab


def _reconcile(
    st: UserState,
    user_id: str,
    client_id: str,
    client: ClientState,
    seq: int,
    ts: int,
    reason: str,
    force_split: bool,
    out: FoldResult,
) -> None:
    want = _current(client)
    visit = client.visit
    if visit is not None and (
        force_split or want is None or want[0] != visit.tab_id or want[1].url != visit.url
    ):
        _close(st, user_id, client_id, client, ts, reason, out)
        visit = None
    session = st.sessions.get(client.session_id)
    if want is not None and visit is None and session is not None:
        tab_id, tab = want
        content = tab.content_hash if tab.content_url == normalize_url(tab.url) else ""
        client.visit = OpenVisit(
            opened_seq=seq,
            tab_id=tab_id,
            url=tab.url,
            title=tab.title,
            start_ts=max(ts, session.started_ts),
            content_hash=content,
        )


def _close(
    st: UserState,
    user_id: str,
    client_id: str,
    client: ClientState,
    ts: int,
    reason: str,
    out: FoldResult,
) -> None:
    visit = client.visit
    if visit is None:
        return
    client.visit = None
    end = max(visit.start_ts, ts)
    # A stop from another clock (the server's) may close this client's visit later
    # than the client's own clock reads: its next visit may not start before that.
    client.last_ts = max(client.last_ts, end)
    dwell = end - visit.start_ts
    session = st.sessions.get(client.session_id)
    if dwell < MIN_VISIT_MS or session is None:
        return
    normalized = normalize_url(visit.url)
    uhash = url_hash(normalized)
    domain = domain_of(normalized)
    out.derived.append(
        VisitClosed(
            user_id=user_id,
            visit_id=deterministic_id(user_id, client_id, visit.opened_seq),
            client_id=client_id,
            session_id=client.session_id,
            tab_id=visit.tab_id,
            url=normalized,
            url_hash=uhash,
            domain=domain,
            title=visit.title,
            start_ts=visit.start_ts,
            end_ts=end,
            dwell_ms=dwell,
            opened_seq=visit.opened_seq,
            end_reason=reason,
            content_hash=visit.content_hash,
        )
    )
    session.active_ms += dwell
    session.last_end_ts = max(session.last_end_ts, end)
    total = session.pages.get(uhash)
    if total is None:
        session.pages[uhash] = PageTotal(normalized, visit.title, domain, dwell, visit.content_hash)
    else:
        total.dwell_ms += dwell
        if visit.content_hash:
            total.content_hash = visit.content_hash
        if visit.title:
            total.title = visit.title


def _stop_session(st: UserState, user_id: str, sid: str, ts: int, out: FoldResult) -> None:
    for client_id, client in st.clients.items():
        if client.session_id == sid:
            if 0 <= client.idle_from <= ts:
                _become_idle(st, user_id, client_id, client, out)
            _close(st, user_id, client_id, client, ts, "session_stopped", out)
            client.session_id = ""
    session = st.sessions.pop(sid)
    st.stopped.append(sid)
    del st.stopped[:-MAX_STOPPED]
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
    ]
    out.derived.append(
        SessionClosed(
            user_id=user_id,
            session_id=sid,
            started_ts=session.started_ts,
            stopped_ts=max(ts, session.started_ts, session.last_end_ts),
            active_ms=session.active_ms,
            page_count=len(pages),
            domain_count=len({page.domain for page in pages}),
            pages=pages,
        )
    )
