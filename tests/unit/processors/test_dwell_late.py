"""An upload that arrives after a stop from the dashboard still counts, when it belongs before it.

The extension uploads every few seconds; a stop pressed on the dashboard is appended at
once by the gateway, so the extension's last upload often reaches the log after the stop.
Its events recorded before the stop fold into the session (visits corrected, new totals);
events recorded after the stop stay ignored (``late``).
"""

from __future__ import annotations

import msgspec

from processors.dwell import MAX_REOPENABLE, fold
from schema.derived import VisitClosed
from tests.unit.processors.browsing import Browser
from tests.unit.processors.test_dwell import USER, final_view

SID = "0190a0b0-0000-7000-8000-0000000000a1"
NEW_SID = "0190a0b0-0000-7000-8000-0000000000a2"


def _pages(visits: dict[str, VisitClosed]) -> list[tuple[str, int]]:
    return sorted((v.url, v.dwell_ms) for v in visits.values())


def test_the_extensions_last_upload_after_a_dashboard_stop_folds_into_its_session() -> None:
    laptop = Browser("laptop", SID)
    server = Browser("server", SID, ts=laptop.ts + 10_000)
    laptop.start()
    laptop.activate(1, "https://a.example/")
    on_time = list(laptop.events)
    laptop.wait(4_000).activate(2, "https://b.example/")
    laptop.wait(3_000).activate(3, "https://c.example/")
    laptop.wait(13_000).activate(4, "https://after-the-stop.example/")
    late = laptop.events[len(on_time) :]
    server.stop()

    state, first = fold(None, USER, [*on_time, *server.events])
    assert _pages(final_view(list(first.derived))[0]) == [("https://a.example/", 10_000)]
    _, second = fold(state, USER, late)

    visits, sessions = final_view([*first.derived, *second.derived])
    assert _pages(visits) == [
        ("https://a.example/", 4_000),
        ("https://b.example/", 3_000),
        ("https://c.example/", 3_000),  # closed by the stop, not by the page after it
    ]
    closed = sessions[SID]
    assert closed.active_ms == 10_000 == sum(v.dwell_ms for v in visits.values())
    assert sorted((p.url, p.dwell_ms) for p in closed.pages) == _pages(visits)
    assert closed.stopped_ts == server.ts
    assert second.late == 1  # the page opened after the stop


def test_late_events_of_an_older_session_than_the_last_few_stay_ignored() -> None:
    laptop = Browser("laptop", SID)
    laptop.start()
    laptop.activate(1, "https://a.example/")
    server = Browser("server", SID, ts=laptop.ts + 10_000)
    server.stop()
    state, _ = fold(None, USER, [*laptop.events, *server.events])
    for i in range(MAX_REOPENABLE):  # newer sessions, each started and stopped
        sid = f"0190a0b0-0000-7000-8000-0000000001{i:02d}"
        other = Browser(f"other{i}", sid, ts=server.ts + 1_000)
        other.start()
        other.wait(1_000).stop()
        state, _ = fold(state, USER, other.events)
    laptop.wait(2_000).activate(2, "https://b.example/")
    _, result = fold(state, USER, laptop.events[-1:])
    assert result.late == 1 and result.derived == []


def test_what_was_recorded_offline_after_an_idle_close_counts_once_recorded_again() -> None:
    # The laptop browsed offline for hours; meanwhile the server closed the session for
    # lack of events. Its upload is ignored as late, and the extension records the same
    # moments again in a new session: those keep their times (not clamped to the copies).
    laptop = Browser("laptop", SID)
    laptop.start()
    laptop.activate(1, "https://before.example/")
    laptop.wait(5_000).blur()
    server = Browser("server", SID, ts=laptop.ts)
    server.stop()  # the idle close, dated at the session's last event
    state, _ = fold(None, USER, [*laptop.events, *server.events])

    again = Browser("laptop", NEW_SID, ts=laptop.ts + 3 * 3_600_000)
    offline = Browser("laptop", SID, ts=again.ts, seq=laptop.seq)
    for browser in (offline, again):
        if browser is again:
            browser.start()
        browser.focus(1)
        browser.activate(2, "https://plane.example/")
        browser.wait(60_000).activate(3, "https://wifi.example/")
        browser.wait(30_000).blur()
    recorded_again = [
        msgspec.structs.replace(e, seq=offline.seq + i) for i, e in enumerate(again.events)
    ]
    state, ignored = fold(state, USER, offline.events)
    assert ignored.late == len(offline.events) and ignored.derived == []
    _, result = fold(state, USER, recorded_again)
    visits, _ = final_view(list(result.derived))
    assert _pages(visits) == [("https://plane.example/", 60_000), ("https://wifi.example/", 30_000)]
    assert {v.session_id for v in visits.values()} == {NEW_SID}
