"""The chaos soak's oracle has teeth: each kind of damage to the read tables is counted.

``bench/chaos_parts/oracle.py`` decides whether a soak passed, so it must see a missing,
extra or changed visit, a wrong session, a missing map and an acknowledged event
the archive lacks — and tell which server stop the log holds when a stop's first
attempt got no answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from bench.chaos_parts.oracle import Archive, Stored, Truth, compare, ground_truth
from bench.chaos_parts.users import ServerStop
from schema.events import ClientEvent, SessionStopped
from schema.ids import uuid7
from tests.unit.processors.browsing import T0, Browser

USER = str(uuid7(T0))


@dataclass
class Person:
    user_id: str
    acked: list[ClientEvent]
    stops: list[ServerStop] = field(default_factory=list)


def _browsing(stop_ts: int, unanswered: list[tuple[int, int]]) -> Person:
    """Two pages read, then a server-side stop acknowledged at ``stop_ts``."""
    session = str(uuid7(T0))
    b = Browser("laptop", session)
    b.start()
    b.wait(10).focus(1)
    b.wait(10).activate(1, "https://a.example/one", title="One")
    b.wait(5_000).activate(2, "https://b.example/two", title="Two")
    stop = SessionStopped(
        event_id=str(uuid7(stop_ts)),
        client_id=f"server:{USER}",
        session_id=session,
        seq=1,
        ts=stop_ts,
    )
    return Person(USER, [*b.events, stop], [ServerStop(session, stop_ts, 1, unanswered)])


def _stored(truth: Truth) -> Stored:
    """Read tables exactly as the truth says."""
    return Stored(
        visits={
            v.visit_id: (
                v.visit_id,
                v.session_id,
                v.user_id,
                v.dwell_ms,
                v.start_ts,
                v.end_ts,
                v.url,
            )
            for v in truth.visits.values()
        },
        sessions={
            s.session_id: (s.session_id, "completed", s.active_ms, s.page_count, s.stopped_ts)
            for s in truth.sessions.values()
        },
        maps=set(truth.sessions),
    )


def _counts(truth: Truth, stored: Stored, archive: Archive) -> dict[str, int]:
    return {k: v for k, v in compare(truth, stored, archive, 4).counts.items() if v}


def test_tables_equal_to_the_truth_pass_and_each_kind_of_damage_is_counted() -> None:
    person = _browsing(T0 + 8_000, [])
    archive = Archive(keys={(e.client_id, e.seq) for e in person.acked})
    truth = ground_truth([person], archive)
    assert sorted(v.dwell_ms for v in truth.visits.values()) == [2_980, 5_000]
    assert _counts(truth, _stored(truth), archive) == {}

    first, second = sorted(truth.visits)
    lost = _stored(truth)
    del lost.visits[first]
    assert _counts(truth, lost, archive) == {"lost_visits": 1}

    extra = _stored(truth)
    extra.visits["0199aaaa-0000-7000-8000-000000000000"] = extra.visits[first]
    assert _counts(truth, extra, archive) == {"duplicate_visits": 1}

    longer = _stored(truth)
    row = longer.visits[second]
    longer.visits[second] = (*row[:3], row[3] + 1, *row[4:])
    assert _counts(truth, longer, archive) == {"dwell_mismatches": 1}

    (session,) = truth.sessions
    unmapped, recording = _stored(truth), _stored(truth)
    unmapped.maps.clear()
    recording.sessions[session] = (session, "recording", 0, 0, None)
    assert _counts(truth, unmapped, archive) == {"sessions_without_map": 1}
    assert _counts(truth, recording, archive) == {"session_mismatches": 1}

    forgotten = Archive(keys=archive.keys - {("laptop", 3)})
    assert _counts(truth, _stored(truth), forgotten) == {"missing_events": 1}


@pytest.mark.parametrize(("stored_stop", "ends"), [(T0 + 7_000, 7_000), (T0 + 6_000, 8_000)])
def test_a_stop_whose_first_attempt_got_no_answer_is_taken_from_the_log(
    stored_stop: int, ends: int
) -> None:
    """The archive's earlier stop counts only inside the unanswered attempt's window."""
    person = _browsing(T0 + 8_000, [(T0 + 6_500, T0 + 7_500)])
    archive = Archive(
        keys={(e.client_id, e.seq) for e in person.acked},
        server_stops={person.stops[0].session_id: [stored_stop, T0 + 8_000]},
    )
    truth = ground_truth([person], archive)
    (closed,) = truth.sessions.values()
    assert closed.stopped_ts == T0 + ends
    assert max(v.end_ts for v in truth.visits.values()) == T0 + ends
