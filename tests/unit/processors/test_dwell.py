"""The dwell fold: exact visits for scripted browsing, and invariants for any browsing."""

from __future__ import annotations

import itertools

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.dwell import UserState, decode_state, encode_state, fold
from schema.derived import SessionClosed, VisitClosed
from schema.events import CLIENT_EVENT_TYPES, ClientEvent, IdleState, SessionStopped
from schema.ids import deterministic_id
from tests.unit.processors.browsing import Browser, content_hash

SID = "0190a0b0-0000-7000-8000-000000000001"
USER = "user-1"


def visits(derived: list[object]) -> list[tuple[str, int, str]]:
    return [(v.url, v.dwell_ms, v.end_reason) for v in derived if isinstance(v, VisitClosed)]


def run(events: list[ClientEvent], *, idle_threshold_ms: int = 0) -> list[object]:
    _, result = fold(None, USER, events, idle_threshold_ms=idle_threshold_ms)
    return list(result.derived)


def test_switching_tabs_gives_one_visit_per_page_with_exact_dwell() -> None:
    b = Browser("c1", SID)
    b.start()
    b.activate(1, "https://a.example/")
    b.wait(5_000).activate(2, "https://b.example/x?utm_source=mail#top")
    b.wait(7_000).activate(1, "https://a.example/")
    b.wait(1_000).stop()
    derived = run(b.events)
    assert visits(derived) == [
        ("https://a.example/", 5_000, "switch"),
        ("https://b.example/x", 7_000, "switch"),
        ("https://a.example/", 1_000, "session_stopped"),
    ]
    closed = [d for d in derived if isinstance(d, SessionClosed)]
    assert len(closed) == 1
    assert closed[0].active_ms == 13_000
    assert closed[0].page_count == 2
    assert [(p.url, p.dwell_ms) for p in closed[0].pages] == [
        ("https://b.example/x", 7_000),
        ("https://a.example/", 6_000),
    ]


def test_blur_idle_and_locked_stop_the_clock_but_audible_media_keeps_it() -> None:
    b = Browser("c1", SID)
    b.activate(1, "https://read.example/")
    b.wait(3_000).blur()
    b.wait(60_000).focus(1)
    b.wait(2_000).idle("idle")
    b.wait(100_000).idle("active")
    b.wait(1_000).activate(2, "https://video.example/")
    b.wait(500).media(2, True)
    b.wait(1_000).idle("locked")
    b.wait(30_000).media(2, False)
    b.wait(9_000).idle("active")
    b.wait(4_000).stop()
    assert visits(run(b.events)) == [
        ("https://read.example/", 3_000, "blur"),
        ("https://read.example/", 2_000, "idle"),
        ("https://read.example/", 1_000, "switch"),
        ("https://video.example/", 31_500, "idle"),
        ("https://video.example/", 4_000, "session_stopped"),
    ]


def test_spa_history_change_splits_a_visit_but_a_title_change_does_not() -> None:
    b = Browser("c1", SID)
    b.activate(1, "https://app.example/inbox", title="Inbox")
    b.wait(2_000).navigate(1, "https://app.example/inbox", title="Inbox (3)", change="title")
    b.wait(2_000).navigate(1, "https://app.example/mail/42", change="history")
    b.wait(3_000).close(1)
    b.wait(5_000).stop()
    derived = [d for d in run(b.events) if isinstance(d, VisitClosed)]
    assert [(v.url, v.dwell_ms, v.end_reason, v.title) for v in derived] == [
        ("https://app.example/inbox", 4_000, "navigate", "Inbox (3)"),
        ("https://app.example/mail/42", 3_000, "tab_closed", "Inbox (3)"),
    ]
    assert derived[0].visit_id == deterministic_id(USER, "c1", 1)
    assert derived[1].visit_id == deterministic_id(USER, "c1", 3)


def test_navigating_with_a_new_title_keeps_the_old_pages_title() -> None:
    b = Browser("c1", SID)
    b.activate(1, "https://space.example/jupiter", title="Jupiter")
    b.wait(2_000).navigate(1, "https://money.example/401k", title="401(k) vs IRA")
    b.wait(1_000).stop()
    derived = [d for d in run(b.events) if isinstance(d, VisitClosed)]
    assert [(v.url, v.title) for v in derived] == [
        ("https://space.example/jupiter", "Jupiter"),
        ("https://money.example/401k", "401(k) vs IRA"),
    ]


def test_server_stop_closes_every_client_and_late_events_are_ignored() -> None:
    laptop = Browser("laptop", SID)
    phone = Browser("phone", SID, ts=laptop.ts + 100)
    server = Browser("server", SID, ts=laptop.ts + 10_000)
    laptop.activate(1, "https://a.example/")
    phone.activate(7, "https://m.example/")
    server.stop()
    laptop.wait(20_000).activate(2, "https://late.example/")
    _, result = fold(
        None, USER, [*laptop.events[:1], *phone.events, *server.events, *laptop.events[1:]]
    )
    assert visits(list(result.derived)) == [
        ("https://a.example/", 10_000, "session_stopped"),
        ("https://m.example/", 9_900, "session_stopped"),
    ]
    assert result.late == 1


def test_page_content_attaches_its_hash_to_the_visit() -> None:
    b = Browser("c1", SID)
    b.activate(1, "https://a.example/post")
    b.content(1, "https://a.example/post#comments", "hello world")
    b.wait(4_000).stop()
    (visit,) = [d for d in run(b.events) if isinstance(d, VisitClosed)]
    assert visit.content_hash == content_hash("hello world")


def test_duplicates_are_ignored_and_gaps_reported() -> None:
    b = Browser("c1", SID)
    b.activate(1, "https://a.example/")
    b.wait(1_000).activate(2, "https://b.example/")
    b.seq += 3  # three events lost on the client
    b.wait(1_000).activate(3, "https://c.example/")
    events = [b.events[0], b.events[0], b.events[1], b.events[1], b.events[2]]
    _, result = fold(None, USER, events)
    assert result.duplicates == 2
    assert [(g.expected, g.got) for g in result.gaps] == [(3, 6)]
    assert len(visits(list(result.derived))) == 2


# ------------------------------------------------------------ idle threshold


def test_idle_threshold_ends_the_dwell_that_long_after_the_last_input() -> None:
    b = Browser("c1", SID)
    b.start()
    b.activate(1, "https://read.example/")
    # reads for 90 s (the last input); chrome.idle, set to 60 s, reports idle 60 s later
    b.wait(150_000).idle("idle", idle_for_s=60)
    b.wait(200_000).idle("active")
    b.wait(10_000).stop()
    assert visits(run(b.events)) == [
        ("https://read.example/", 150_000, "idle"),  # today: idle when it was reported
        ("https://read.example/", 10_000, "session_stopped"),
    ]
    derived = run(b.events, idle_threshold_ms=30_000)
    assert visits(derived) == [
        ("https://read.example/", 120_000, "idle"),  # 90 s read + 30 s threshold
        ("https://read.example/", 10_000, "session_stopped"),
    ]
    first = next(d for d in derived if isinstance(d, VisitClosed))
    assert first.end_ts == b.events[1].ts + 90_000 + 30_000


def test_activity_before_a_longer_threshold_keeps_one_unbroken_visit() -> None:
    b = Browser("c1", SID)
    b.start()
    b.activate(1, "https://read.example/")  # the last input
    b.wait(60_000).idle("idle", idle_for_s=60)
    b.wait(40_000).idle("active")  # 100 s after the last input
    b.wait(50_000).stop()
    assert visits(run(b.events)) == [
        ("https://read.example/", 60_000, "idle"),
        ("https://read.example/", 50_000, "session_stopped"),
    ]
    derived = run(b.events, idle_threshold_ms=120_000)
    assert visits(derived) == [("https://read.example/", 150_000, "session_stopped")]
    (visit,) = [d for d in derived if isinstance(d, VisitClosed)]
    assert visit.visit_id == deterministic_id(USER, "c1", 2)


def test_pending_idle_takes_effect_with_the_next_event_after_it() -> None:
    b = Browser("c1", SID)
    b.start()
    b.activate(1, "https://read.example/", title="Read")
    b.wait(60_000).idle("idle", idle_for_s=60)  # idle from +120 s under a 120 s threshold
    b.wait(10_000).navigate(1, "https://read.example/", title="Read (1)", change="title")
    b.wait(230_000).navigate(1, "https://read.example/", title="Read (2)", change="title")
    b.wait(100_000).idle("active")
    b.wait(5_000).stop()
    derived = [d for d in run(b.events, idle_threshold_ms=120_000) if isinstance(d, VisitClosed)]
    assert [(v.dwell_ms, v.end_reason, v.title, v.opened_seq) for v in derived] == [
        (120_000, "idle", "Read (1)", 2),  # the retitle before +120 s still reached it
        (5_000, "session_stopped", "Read (2)", 6),  # reopened by `active`, at its seq
    ]


def test_a_stop_from_another_client_closes_at_the_pending_idle_or_at_the_stop() -> None:
    for stop_after, expected in (
        (300_000, [("https://a.example/", 120_000, "idle")]),
        (100_000, [("https://a.example/", 100_000, "session_stopped")]),
    ):
        laptop = Browser("laptop", SID)
        server = Browser("server", SID, ts=laptop.ts + stop_after)
        laptop.activate(1, "https://a.example/")
        laptop.wait(60_000).idle("idle", idle_for_s=60)
        server.stop()
        derived = run([*laptop.events, *server.events], idle_threshold_ms=120_000)
        assert visits(derived) == expected
        (closed,) = [d for d in derived if isinstance(d, SessionClosed)]
        assert closed.active_ms == expected[0][1]


def test_locked_paused_and_reported_idle_without_inactivity_ignore_the_threshold() -> None:
    b = Browser("c1", SID)
    b.activate(1, "https://read.example/")
    b.wait(10_000).idle("locked")
    b.wait(10_000).idle("active")
    b.wait(10_000).idle("idle")  # the popup's pause: idle_for_s = 0
    b.wait(10_000).idle("active")
    b.wait(10_000).stop()
    expected = [
        ("https://read.example/", 10_000, "locked"),
        ("https://read.example/", 10_000, "idle"),
        ("https://read.example/", 10_000, "session_stopped"),
    ]
    assert visits(run(b.events)) == expected
    assert visits(run(b.events, idle_threshold_ms=300_000)) == expected


def test_idle_never_starts_before_the_clients_previous_event() -> None:
    b = Browser("c1", SID)
    b.activate(1, "https://read.example/")
    b.wait(50_000).navigate(1, "https://read.example/next", change="history")
    b.wait(50_000).idle("idle", idle_for_s=90)  # last input 10 s in, + 30 s = 40 s < 50 s
    b.wait(10_000).stop()
    assert visits(run(b.events, idle_threshold_ms=30_000)) == [
        ("https://read.example/", 50_000, "navigate"),
    ]


def test_audible_page_stays_open_through_a_pending_idle() -> None:
    b = Browser("c1", SID)
    b.activate(1, "https://video.example/")
    b.wait(1_000).media(1, True)
    b.wait(60_000).idle("idle", idle_for_s=60)
    b.wait(200_000).media(1, False)  # after the idle start: the sound ended, so did the visit
    b.wait(10_000).stop()
    assert visits(run(b.events, idle_threshold_ms=30_000)) == [
        ("https://video.example/", 261_000, "idle"),
    ]


def test_saved_state_from_before_the_idle_threshold_still_decodes() -> None:
    b = Browser("c1", SID)
    b.activate(1, "https://a.example/")
    state, _ = fold(None, USER, b.events)
    raw = msgspec.msgpack.decode(encode_state(state))
    for client in raw["clients"].values():
        del client["idle_from"]
    old = decode_state(msgspec.msgpack.encode(raw))
    assert old.clients["c1"].idle_from == -1
    assert encode_state(old) == encode_state(state)


def test_finished_session_state_is_released() -> None:
    b = Browser("c1", SID)
    for i in range(50):
        b.wait(1_000).activate(i, f"https://site{i}.example/")
    b.wait(1_000).stop()
    state, _ = fold(None, USER, b.events)
    assert state.is_idle()
    assert len(encode_state(state)) < 16_000


# ---------------------------------------------------------------- properties

URLS = [f"https://s{i}.example/p" for i in range(4)]
SIDS = [f"0190a0b0-0000-7000-8000-00000000000{i}" for i in range(1, 4)]


@st.composite
def browsing(
    draw: st.DrawFn, clients: tuple[str, ...] = ("c1", "c2", "server")
) -> list[ClientEvent]:
    """Interleaved events of two clients and the server across up to three sessions, with gaps.

    ``clients`` picks who takes part (each has its own clock).
    """
    browsers = {name: Browser(name, SIDS[0]) for name in clients}
    events: list[ClientEvent] = []
    for _ in range(draw(st.integers(1, 60))):
        name = draw(
            st.sampled_from([n for n in ["c1", "c1", "c1", "c2", "c2", "server"] if n in clients])
        )
        b = browsers[name]
        b.wait(draw(st.integers(0, 20_000)))
        if draw(st.integers(0, 19)) == 0:
            b.seq += draw(st.integers(1, 3))  # events lost on the way: a gap
        b.session_id = draw(st.sampled_from(SIDS[:2] if name != "server" else SIDS))
        tab = draw(st.integers(1, 3))
        window = draw(st.integers(1, 2))
        kinds = [0, 1, 1, 1, 2, 2, 3, 4, 4, 5, 6, 7, 8, 9] if name != "server" else [0, 9]
        kind = draw(st.sampled_from(kinds))
        if kind == 0:
            events.append(b.start())
        elif kind == 1:
            events.append(b.activate(tab, draw(st.sampled_from(URLS)), window=window))
        elif kind == 2:
            change = draw(st.sampled_from(["url", "history", "title"]))
            events.append(
                b.navigate(tab, draw(st.sampled_from(URLS)), window=window, change=change)
            )
        elif kind == 3:
            events.append(b.close(tab, window=window))
        elif kind == 4:
            events.append(b.focus(window))
        elif kind == 5:
            events.append(b.blur())
        elif kind == 6:
            state = draw(st.sampled_from(["active", "idle", "idle", "locked"]))
            idle_for = draw(st.sampled_from([0, 1, 15, 60, 120])) if state == "idle" else 0
            events.append(b.idle(state, idle_for_s=idle_for))
        elif kind == 7:
            events.append(b.media(tab, draw(st.booleans())))
        elif kind == 8:
            events.append(b.content(tab, draw(st.sampled_from(URLS)), draw(st.sampled_from("xyz"))))
        else:
            events.append(b.stop())
    return events


THRESHOLDS = st.sampled_from([0, 1, 5_000, 30_000, 60_000, 120_000, 600_000])
"""Idle thresholds (ms) for the properties: none, below, at and above the reports' 1-120 s."""


def final_view(derived: list[object]) -> tuple[dict[str, VisitClosed], dict[str, SessionClosed]]:
    """What the read tables keep: the last version of each visit and of each session."""
    visits = {d.visit_id: d for d in derived if isinstance(d, VisitClosed)}
    sessions = {d.session_id: d for d in derived if isinstance(d, SessionClosed)}
    return visits, sessions


def _canonical(state: UserState, derived: list[object]) -> tuple[bytes, bytes]:
    """The state and the final view of the derived events (late uploads send corrections)."""
    visits, sessions = final_view(derived)
    return encode_state(state), msgspec.msgpack.encode(
        [sorted(visits.items()), sorted(sessions.items())]
    )


def _without_idle_for(events: list[ClientEvent]) -> list[ClientEvent]:
    return [
        msgspec.structs.replace(e, idle_for_s=0) if isinstance(e, IdleState) else e for e in events
    ]


def _session_dwell(derived: list[object]) -> dict[str, int]:
    return {d.session_id: d.active_ms for d in derived if isinstance(d, SessionClosed)}


@settings(max_examples=200, deadline=None)
@given(browsing(), THRESHOLDS)
def test_visits_never_overlap_per_client_and_stay_inside_their_session(
    events: list[ClientEvent], threshold: int
) -> None:
    _, result = fold(None, USER, events, idle_threshold_ms=threshold)
    # A late upload may send a visit again, corrected (same id): the last version counts.
    versions: dict[str, list[VisitClosed]] = {}
    for v in result.derived:
        if isinstance(v, VisitClosed):
            versions.setdefault(v.visit_id, []).append(v)
    for same in versions.values():  # one visit: its client, page and start never change
        assert len({(v.client_id, v.url, v.start_ts, v.session_id) for v in same}) == 1
    visits, sessions = final_view(list(result.derived))
    derived: list[object] = [*visits.values(), *sessions.values()]
    by_client: dict[str, list[VisitClosed]] = {}
    for v in visits.values():
        assert v.dwell_ms == v.end_ts - v.start_ts >= 0
        if len(versions[v.visit_id]) == 1:
            assert v.start_ts < v.end_ts
        by_client.setdefault(v.client_id, []).append(v)
    for vs in by_client.values():
        vs.sort(key=lambda v: v.start_ts)
        for before, after in itertools.pairwise(vs):
            assert before.end_ts <= after.start_ts
    for closed in sessions.values():
        inside = [
            v for v in derived if isinstance(v, VisitClosed) and v.session_id == closed.session_id
        ]
        assert sum(v.dwell_ms for v in inside) == closed.active_ms
        assert sum(p.dwell_ms for p in closed.pages) == closed.active_ms
        for v in inside:
            assert closed.started_ts <= v.start_ts and v.end_ts <= closed.stopped_ts
        for client_visits in by_client.values():
            mine = [v for v in client_visits if v.session_id == closed.session_id]
            assert sum(v.dwell_ms for v in mine) <= closed.stopped_ts - closed.started_ts


@settings(max_examples=200, deadline=None)
@given(browsing(), THRESHOLDS, st.data())
def test_duplicates_and_any_batching_fold_like_once(
    events: list[ClientEvent], threshold: int, data: st.DataObject
) -> None:
    state_once, once = fold(None, USER, events, idle_threshold_ms=threshold)
    expected = _canonical(state_once, list(once.derived))

    # Redeliver: each event may be repeated later, and batches may be re-sent whole.
    noisy: list[ClientEvent] = []
    for i, event in enumerate(events):
        noisy.append(event)
        if data.draw(st.booleans()):
            noisy.append(events[data.draw(st.integers(0, i))])
    cuts = sorted(data.draw(st.sets(st.integers(0, len(noisy)), max_size=6)))
    state: UserState | None = None
    derived: list[object] = []
    gaps = []
    for start, end in zip([0, *cuts], [*cuts, len(noisy)], strict=False):
        state, result = fold(state, USER, noisy[start:end], idle_threshold_ms=threshold)
        derived.extend(result.derived)
        gaps.extend(result.gaps)
        state = decode_state(encode_state(state))  # what the state store round-trips
    assert state is not None
    assert _canonical(state, derived) == expected
    assert gaps == once.gaps  # a redelivery is never mistaken for, or hides, a gap


@settings(max_examples=50, deadline=None)
@given(browsing())
def test_every_stop_closes_its_session_once(events: list[ClientEvent]) -> None:
    _, result = fold(None, USER, events)
    stopped = []
    seen_stop: set[str] = set()
    for e in events:
        if isinstance(e, SessionStopped) and e.session_id not in seen_stop:
            seen_stop.add(e.session_id)
            stopped.append(e.session_id)
    closed = [d.session_id for d in result.derived if isinstance(d, SessionClosed)]
    assert list(dict.fromkeys(closed)) == stopped  # again only with a late upload's totals


@settings(max_examples=200, deadline=None)
@given(browsing(), st.sampled_from([1, 30_000, 600_000]))
def test_without_a_threshold_idle_for_s_changes_nothing(
    events: list[ClientEvent], threshold: int
) -> None:
    """T = 0 folds exactly as before ``idle_for_s`` existed; reports without it ignore T."""
    plain = _without_idle_for(events)
    state, once = fold(None, USER, plain)
    expected = _canonical(state, list(once.derived))
    for variant, kwargs in (
        (events, {}),
        (events, {"idle_threshold_ms": 0}),
        (plain, {"idle_threshold_ms": threshold}),
    ):
        state, result = fold(None, USER, variant, **kwargs)
        assert _canonical(state, list(result.derived)) == expected


@settings(max_examples=300, deadline=None)
@given(browsing(clients=("c1",)), THRESHOLDS, THRESHOLDS)
def test_a_larger_threshold_never_gives_a_session_less_dwell(
    events: list[ClientEvent], first: int, second: int
) -> None:
    """One extension install, any sessions: a longer threshold only moves idle later.

    One clock only: a ``session.stopped`` on another clock that runs behind closes a
    visit at its own (earlier) time, so a visit whose idle a short threshold had already
    ended on the client's clock can end earlier under a long one; and a stop on a clock
    that runs ahead pushes the client's clock to the visit's end, which is later under
    a long threshold, delaying the client's next visit. Neither breaks an invariant
    above, but dwell is not monotonic in the threshold across clocks.
    """
    smaller, larger = sorted((first, second))
    if smaller == 0 and larger < 120_000:
        # 0 means "idle when reported", i.e. a threshold of each report's own idle_for_s
        # (up to 120 s here): only a threshold at least that long is comparable with it.
        return
    _, low = fold(None, USER, events, idle_threshold_ms=smaller)
    _, high = fold(None, USER, events, idle_threshold_ms=larger)
    low_dwell, high_dwell = _session_dwell(list(low.derived)), _session_dwell(list(high.derived))
    assert low_dwell.keys() == high_dwell.keys()
    for sid, dwell in low_dwell.items():
        assert high_dwell[sid] >= dwell, sid


def test_another_user_reusing_a_client_id_and_seq_names_other_visits() -> None:
    b = Browser("c1", SID)
    b.activate(1, "https://read.example/")
    b.wait(5_000).stop()
    mine = [d.visit_id for d in run(b.events) if isinstance(d, VisitClosed)]
    _, theirs = fold(None, "user-2", b.events)
    other = [d.visit_id for d in theirs.derived if isinstance(d, VisitClosed)]
    assert len(mine) == len(other) == 1 and mine != other


def test_event_classes_have_no_subclasses() -> None:
    # The fold and the handler tell events apart by exact type (type(ev) is IdleState:
    # isinstance() with a Struct class that does not match costs ~0.1 µs per event).
    for cls in CLIENT_EVENT_TYPES.values():
        assert cls.__subclasses__() == [], cls
