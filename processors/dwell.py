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
  so a client's visits never overlap; an event ignored as ``late`` takes no time (after
  an idle close the extension records them again in a new session: not clamped to
  their copies). A ``session.stopped`` (from any client of the
  user, e.g. the gateway's ``server`` client) closes the open visits of every client
  in that session at the stop time, so no visit extends beyond its session.
* ``(client_id, seq)`` at or below the client's highest seen ``seq`` is a duplicate
  and is ignored; a jump in ``seq`` is reported as a :class:`Gap` (never guessed over).
* Events of an already stopped session are ignored (counted as ``late``) — unless the
  session is one of the user's :data:`MAX_REOPENABLE` most recently stopped ones and
  the event's ``ts`` is within the session's time range (e.g. an extension's last
  upload arriving after a stop from the dashboard). Such a late event reopens the
  session for its client (the visit the stop closed is open again, the client's clock
  as it was), is folded as usual, and the session is stopped again at its stop time
  right after it (so how events are batched never matters). The visits this changes
  are emitted again with the same ``visit_id`` (a later version replaces an earlier
  one downstream, even one shorter than :data:`MIN_VISIT_MS`), and a new
  ``session.closed`` carries the new totals. A late ``session.stopped`` stays ignored.
* A user's state expires some time after their last event (:mod:`processors.state`),
  and with it what it knew of their stopped sessions. So an event recorded before
  ``stale_before`` (the gateway received it more than that lifetime later) of a
  session the state does not know is counted ``late`` and ignored, as an event of a
  stopped session is: it cannot tell a stopped session it forgot from a new one. Its
  stop marks it failed (:func:`~processors.dwell_state.late_session_failed`).
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

The fold is pure, shaped ``(state, events) -> (new_state, outputs)``: it never
changes the state it is given (it works on a copy), so a caller that fails to send
the outputs still holds the state from before and may fold the same events again
(the handler keeps the new state only once the outputs are stored). Deterministic:
the same events once, with duplicates, or in any batches give the same outputs and state.
"""

from __future__ import annotations

from collections.abc import Iterable

from processors.dwell_browser import BROWSER_CHANGES, MAX_TABS, SWITCH, Change, current_page
from processors.dwell_state import (
    ClientState,
    FoldResult,
    Gap,
    OpenVisit,
    SessionState,
    StoppedClient,
    Tab,
    UserState,
    copy_state,
    count_visit,
    decode_state,
    encode_state,
    late_session_failed,
    session_closed,
    uncount_visit,
)
from processors.urls import normalize_url, page_of
from schema.derived import VisitClosed
from schema.events import ClientEvent, IdleState, SessionStopped
from schema.ids import visit_id
from schema.privacy import WEB_PREFIXES, is_page_url

__all__ = [
    "MAX_REOPENABLE",
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
    "step",
]

MAX_STOPPED = 32
"""Recently stopped sessions remembered per user (to ignore their late events)."""
MAX_REOPENABLE = 4
"""Recently stopped sessions kept whole per user (a late upload may still fold into them)."""
MIN_VISIT_MS = 500
"""Shorter visits are flicks (tabbing through, a new tab on its way), not page views."""


def fold(
    state: UserState | bytes | None,
    user_id: str,
    events: Iterable[ClientEvent],
    *,
    idle_threshold_ms: int = 0,
    stale_before: int = 0,
    in_place: bool = False,
) -> tuple[UserState, FoldResult]:
    """Fold one user's events (in log order) into a new state.

    Args:
        state: the user's state, its encoding (:func:`encode_state`), or ``None`` for a
            new user. Never changed: the result is a new state (but ``in_place``).
        user_id: whose events these are (from the log entry, never the client).
        events: the user's client events, in the order the log holds them.
        idle_threshold_ms: after how long without input the user counts as idle;
            0 = exactly when the client reports idle (see the module's rules). A
            user's events must always be folded with the same threshold.
        stale_before: events recorded before this (client ms) of sessions the state
            does not know are late (their state may have expired); from the log (when
            the gateway received them minus the state's lifetime). 0 = none.
        in_place: fold ``state`` (an object the caller hands over) itself, not a copy.

    Returns:
        The new state and a :class:`FoldResult` with the derived events in order.
    """
    if state is None:
        own = UserState()
    elif isinstance(state, bytes):
        own = decode_state(state)
    else:
        own = state if in_place else copy_state(state)
    work = _Fold(own, user_id, idle_threshold_ms, stale_before)
    work.apply(events)
    return work.st, work.out


def step(
    state: UserState | None, user_id: str, event: ClientEvent, *, idle_threshold_ms: int = 0
) -> tuple[UserState, FoldResult]:
    """Fold a single event: ``(state, event) -> (new_state, outputs)`` (see :func:`fold`)."""
    return fold(state, user_id, (event,), idle_threshold_ms=idle_threshold_ms)


class _Fold:
    """One fold call at work: a private copy of the user's state and the outputs so far."""

    def __init__(
        self, st: UserState, user_id: str, idle_threshold_ms: int, stale_before: int = 0
    ) -> None:
        self.st = st
        self.stale_before = stale_before
        self.user_id = user_id
        self.threshold = idle_threshold_ms
        self.out = FoldResult(derived=[], gaps=[])
        self.reopened: dict[str, int] = {}  # the session reopened for an event → its stop

    def apply(self, events: Iterable[ClientEvent]) -> None:
        """Fold the events in order (the rules are in the module docstring)."""
        # One loop, what stays the same in locals: the hot path (~2 % of the handler's work).
        st, reopened, reconcile = self.st, self.reopened, self._reconcile
        clients, closed, sessions = st.clients, st.closed, st.sessions
        for ev in events:
            client_id = ev.client_id
            client = clients.get(client_id) or clients.setdefault(client_id, ClientState())
            # The client's highest ``seq`` advances (the next one is the hot path).
            seq, last_seq = ev.seq, client.last_seq
            if seq != last_seq + 1 and self._duplicate(client_id, seq, last_seq):
                continue
            client.last_seq = seq
            sid = ev.session_id
            if sid in closed:  # else nothing to reopen (hot path)
                self._reopen(client_id, client, ev)
            previous_ts = client.last_ts
            ts = client.last_ts = ev.ts if ev.ts > previous_ts else previous_ts
            idle_at = client.idle_from
            if 0 <= idle_at <= ts:
                self._become_idle(client_id, client)
            # Hot path: the client is already in this open session (nothing to enter).
            if (client.session_id == sid and sid in sessions) or self._enter_session(
                client_id, client, ev, ts
            ):
                # By exact type (no subclasses): an isinstance() that fails costs ~0.1 µs.
                kind = type(ev)
                if kind is SessionStopped:
                    self._stop_session(sid, ts)
                else:
                    if kind is IdleState:
                        change: Change | None = self._idle(client, ev, ts, previous_ts)  # type: ignore[arg-type]
                    else:
                        browser = BROWSER_CHANGES.get(kind)
                        change = browser(client, ev) if browser is not None else SWITCH
                    if change is not None:
                        reconcile(client_id, client, seq, ts, change[0], change[1])
            else:  # ignored as late: takes no time (see the rules), but for an idle it reached
                client.last_ts = idle_at if 0 <= idle_at <= ts else previous_ts
            if reopened:
                self.stop_reopened()

    def _duplicate(self, client_id: str, seq: int, last_seq: int) -> bool:
        """Out of sequence: count a duplicate (True: drop it) or report a gap (not before seq 0)."""
        if seq <= last_seq:
            self.out.duplicates += 1
            return True
        if last_seq >= 0:
            self.out.gaps.append(Gap(client_id, last_seq + 1, seq))
        return False

    def _reopen(self, client_id: str, client: ClientState, ev: ClientEvent) -> None:
        """Reopen a recently stopped session for a late event of it (see the rules)."""
        sid = ev.session_id
        if client.session_id not in ("", sid):
            return
        session = self.st.closed.get(sid)
        if session is None or not session.started_ts <= ev.ts <= session.stopped_ts:
            return  # not inside the stopped session: not a late event of it
        if isinstance(ev, SessionStopped):
            return  # a late stop stays ignored
        stopped = session.stopped_clients.get(client_id)
        untouched = client.last_ts == (stopped.after_ts if stopped is not None else 0)
        if not untouched:  # the client went on since the stop: its time is spoken for
            return
        del self.st.closed[sid]
        self.st.stopped.remove(sid)
        self.st.sessions[sid] = session
        self.reopened[sid] = session.stopped_ts
        client.session_id = sid
        if stopped is not None:
            del session.stopped_clients[client_id]
            client.last_ts = stopped.last_ts
            client.visit = stopped.visit
            if stopped.counted and stopped.visit is not None:
                uncount_visit(session, stopped.visit, stopped.end_ts)
                stopped.visit.emitted = True

    def stop_reopened(self) -> None:
        """Stop again, at its stop time, the session reopened for a late event."""
        for sid, stopped_ts in self.reopened.items():
            self._stop_session(sid, stopped_ts)
        self.reopened.clear()

    def _enter_session(self, client_id: str, client: ClientState, ev: ClientEvent, ts: int) -> bool:
        """Put the client in ``ev``'s session; False when it was stopped (or may have been)."""
        sid = ev.session_id
        if sid not in self.st.sessions and sid in self.st.stopped:  # open: never stopped
            self.out.late += 1
            return False
        if ts < self.stale_before and sid not in self.st.sessions:
            self.out.late += 1  # a session the expired state may have known stopped
            if type(ev) is SessionStopped:  # it never gets a mind map: say why
                self.out.derived.append(late_session_failed(self.user_id, sid, ts))
            return False
        if client.session_id != sid:
            # The client moved to another session: what was open belongs to the old one.
            self._close(client_id, client, ts, "session_changed")
            client.session_id = sid
        if sid not in self.st.sessions:
            self.st.sessions[sid] = SessionState(started_ts=ts)
        return True

    def _idle(self, client: ClientState, ev: IdleState, ts: int, previous_ts: int) -> Change:
        if self.threshold > 0 and ev.state == "idle" and ev.idle_for_s > 0:
            if not client.idle:
                start = max(ts - ev.idle_for_s * 1000 + self.threshold, previous_ts)
                if client.idle_from >= 0:
                    start = min(start, client.idle_from)
                client.idle_from = start
                if start <= ts:
                    self._become_idle(ev.client_id, client)
        else:
            client.idle = ev.state != "active"
            client.idle_from = -1
        return ev.state, False

    def _become_idle(self, client_id: str, client: ClientState) -> None:
        """The pending idle start has been reached: the user is idle from ``idle_from``."""
        at = client.idle_from
        client.idle_from = -1
        client.idle = True
        # Only ``idle`` changed since the client was last reconciled, so the open visit
        # either stays (an audible page) or closes; nothing opens.
        if client.visit is not None and current_page(client) is None:
            self._close(client_id, client, at, "idle")

    def _reconcile(
        self, client_id: str, client: ClientState, seq: int, ts: int, reason: str, split: bool
    ) -> None:
        # current_page(client), written out (once per event): the tab that should be open.
        tab: Tab | None = None
        tab_id = -1
        if client.session_id and client.focused_window >= 0:
            active = client.active.get(client.focused_window)
            if active is not None:
                shown = client.tabs.get(active)
                if (
                    shown is not None
                    and (shown.url.startswith(WEB_PREFIXES) or is_page_url(shown.url))
                    and (shown.audible or not client.idle)
                ):
                    tab, tab_id = shown, active
        visit = client.visit
        if visit is not None and (
            split or tab is None or tab_id != visit.tab_id or tab.url != visit.url
        ):
            self._close(client_id, client, ts, reason)
            visit = None
        if tab is None or visit is not None:
            return
        session = self.st.sessions.get(client.session_id)
        if session is not None:
            matches = tab.content_url and tab.content_url == normalize_url(tab.url)
            content = tab.content_hash if matches else ""
            client.visit = OpenVisit(
                opened_seq=seq,
                tab_id=tab_id,
                url=tab.url,
                title=tab.title,
                start_ts=ts if ts > session.started_ts else session.started_ts,
                content_hash=content,
            )

    def _close(self, client_id: str, client: ClientState, ts: int, reason: str) -> None:
        visit = client.visit
        if visit is None:
            return
        client.visit = None
        start = visit.start_ts
        end = ts if ts > start else start
        # A stop from another clock (the server's) may close this client's visit later
        # than the client's own clock reads: its next visit may not start before that.
        if end > client.last_ts:
            client.last_ts = end
        dwell = end - start
        session = self.st.sessions.get(client.session_id)
        if (dwell < MIN_VISIT_MS and not visit.emitted) or session is None:
            return
        normalized, uhash, domain = page_of(visit.url)
        self.out.derived.append(
            VisitClosed(
                user_id=self.user_id,
                visit_id=visit_id(self.user_id, client_id, visit.opened_seq),
                client_id=client_id,
                session_id=client.session_id,
                tab_id=visit.tab_id,
                url=normalized,
                url_hash=uhash,
                domain=domain,
                title=visit.title,
                start_ts=start,
                end_ts=end,
                dwell_ms=dwell,
                opened_seq=visit.opened_seq,
                end_reason=reason,
                content_hash=visit.content_hash,
            )
        )
        count_visit(session, visit, normalized, end, uhash, domain)

    def _stop_session(self, sid: str, ts: int) -> None:
        session = self.st.sessions[sid]
        for client_id, client in self.st.clients.items():
            if client.session_id == sid:
                if 0 <= client.idle_from <= ts:
                    self._become_idle(client_id, client)
                stopped = StoppedClient(last_ts=client.last_ts, visit=client.visit)
                before = session.active_ms
                self._close(client_id, client, ts, "session_stopped")
                if stopped.visit is not None:
                    stopped.end_ts = max(stopped.visit.start_ts, ts)
                    stopped.counted = session.active_ms != before
                stopped.after_ts = client.last_ts
                session.stopped_clients[client_id] = stopped
                client.session_id = ""
        del self.st.sessions[sid]
        closed = session_closed(self.user_id, sid, session, ts)
        session.stopped_ts = closed.stopped_ts
        self.st.stopped.append(sid)
        del self.st.stopped[:-MAX_STOPPED]
        self.st.closed[sid] = session
        for oldest in list(self.st.closed)[:-MAX_REOPENABLE]:
            del self.st.closed[oldest]
        self.out.derived.append(closed)
