"""``mindhit demo`` event planning: valid, realistic, deterministic sessions."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from mindhit.cli.demo import DAY_MS, DemoError, plan_sessions
from mindhit.corpus import load_pages
from mindhit.settings import Settings
from processors.state import dwell_ttl_ms
from schema.api import EventBatch
from schema.events import IdleState, PageContent, SessionStarted, SessionStopped

NOW = 1_795_000_000_000


def test_sessions_are_valid_uploads_with_increasing_seq_and_time() -> None:
    planned = plan_sessions(load_pages(), sessions=3, seed=7, now_ms=NOW, client_id="demo-1")
    assert len(planned) == 3
    seqs = [e.seq for s in planned for e in s.events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for session in planned:
        events = session.events
        assert isinstance(events[0], SessionStarted) and isinstance(events[-1], SessionStopped)
        assert [e.ts for e in events] == sorted(e.ts for e in events)
        assert events[-1].ts < NOW
        assert all(e.session_id == session.session_id for e in events)
        pages = [e for e in events if isinstance(e, PageContent)]
        assert 5 <= len(pages) <= 9 and all(p.text for p in pages)
        body = msgspec.json.encode(
            EventBatch(
                batch_id="01a20705-24c0-795f-b43f-90a3d3a7cf52", client_id="demo-1", events=events
            )
        )
        msgspec.json.decode(body, type=EventBatch)  # the gateway's contract accepts it


def test_sessions_read_different_main_topics() -> None:
    planned = plan_sessions(load_pages(), sessions=3, seed=7, now_ms=NOW, client_id="demo-1")
    assert len({s.topics[0] for s in planned}) == 3


def test_the_same_seed_plans_the_same_pages() -> None:
    def urls(seed: int) -> list[str]:
        planned = plan_sessions(load_pages(), sessions=2, seed=seed, now_ms=NOW, client_id="c")
        return [e.url for s in planned for e in s.events if isinstance(e, PageContent)]

    assert urls(3) == urls(3) and urls(3) != urls(4)


def test_idle_spells_are_reported_a_minute_after_the_last_input() -> None:
    planned = plan_sessions(load_pages(), sessions=6, seed=7, now_ms=NOW, client_id="demo-1")
    events = [e for s in planned for e in s.events]
    idle = [(e, before) for before, e in itertools.pairwise(events) if isinstance(e, IdleState)]
    reports = [(e, before) for e, before in idle if e.state == "idle"]
    assert reports, "some pages are followed by an idle spell"
    for report, before in reports:
        assert report.idle_for_s == 60
        assert report.ts - before.ts >= 60_000  # implied last input: not before that event
    assert all(e.idle_for_s == 0 for e, _ in idle if e.state == "active")


def test_every_session_starts_within_the_window_and_none_overlap() -> None:
    """Uploaded now, a session recorded longer ago than the processors' state life comes
    too late to be counted (processors.dwell): the demo keeps them all inside it."""
    window = dwell_ttl_ms(Settings()) * 6 // 7
    for count in (1, 8, 40):
        planned = plan_sessions(
            load_pages(), sessions=count, seed=3, now_ms=NOW, client_id="c", within_ms=window
        )
        spans = [(s.events[0].ts, s.events[-1].ts) for s in planned]
        assert len(spans) == count and NOW - window <= spans[0][0] and spans[-1][1] < NOW
        assert all(stop < start for (_, stop), (start, _) in itertools.pairwise(spans))


def test_more_sessions_than_fit_the_window_are_refused() -> None:
    with pytest.raises(DemoError, match="at most 12 demo sessions"):
        plan_sessions(load_pages(), sessions=13, seed=3, now_ms=NOW, client_id="", within_ms=DAY_MS)
