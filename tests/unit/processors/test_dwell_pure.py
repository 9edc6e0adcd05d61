"""The dwell fold is pure: it never changes the state it is given, so a failed send can fold again.

The handler folds an entry, sends the outputs, and only then keeps the new state. These
properties are what makes a retry of the same entry safe: the loaded state is still the
state from before, and folding it again gives exactly the same outputs.
"""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from processors.agents.raw import fold_entry
from processors.dwell import UserState, encode_state, fold, step
from schema.derived import VisitClosed
from schema.events import ClientEvent
from tests.unit.processors.browsing import Browser
from tests.unit.processors.test_dwell import THRESHOLDS, USER, browsing, final_view

SID = "0190a0b0-0000-7000-8000-0000000000f1"


def _outputs(derived: list[object]) -> bytes:
    return msgspec.msgpack.encode(derived)


def _final(derived: list[object]) -> bytes:
    """The last version of every visit and session (a late upload sends corrections)."""
    visits, sessions = final_view(derived)
    return msgspec.msgpack.encode([sorted(visits.items()), sorted(sessions.items())])


@settings(max_examples=150, deadline=None)
@given(browsing(), THRESHOLDS, st.data())
def test_folding_never_changes_the_given_state_and_a_retry_gives_the_same_outputs(
    events: list[ClientEvent], threshold: int, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(events)))
    before, _ = fold(None, USER, events[:cut], idle_threshold_ms=threshold)
    saved = encode_state(before)

    failed_state, failed = fold(before, USER, events[cut:], idle_threshold_ms=threshold)
    assert encode_state(before) == saved  # the attempt whose send failed changed nothing
    retry_state, retried = fold(before, USER, events[cut:], idle_threshold_ms=threshold)

    assert _outputs(list(retried.derived)) == _outputs(list(failed.derived))
    assert encode_state(retry_state) == encode_state(failed_state)
    assert retried.gaps == failed.gaps and retried.duplicates == failed.duplicates
    # ... and the same as one fold of everything: nothing was lost or doubled by the retry.
    _, whole = fold(None, USER, events, idle_threshold_ms=threshold)
    _, head = fold(None, USER, events[:cut], idle_threshold_ms=threshold)
    assert _final([*head.derived, *retried.derived]) == _final(list(whole.derived))


@settings(max_examples=100, deadline=None)
@given(browsing(), THRESHOLDS)
def test_one_event_at_a_time_folds_like_the_whole_batch(
    events: list[ClientEvent], threshold: int
) -> None:
    state: UserState | None = None
    derived: list[object] = []
    for event in events:
        previous = encode_state(state) if state is not None else b""
        new_state, out = step(state, USER, event, idle_threshold_ms=threshold)
        assert state is None or encode_state(state) == previous
        state = new_state
        derived.extend(out.derived)
    whole_state, whole = fold(None, USER, events, idle_threshold_ms=threshold)
    assert state is not None
    assert encode_state(state) == encode_state(whole_state)
    assert _final(derived) == _final(list(whole.derived))


@settings(max_examples=100, deadline=None)
@given(browsing(), THRESHOLDS)
def test_total_dwell_is_the_sum_of_the_visits_however_the_events_are_folded(
    events: list[ClientEvent], threshold: int
) -> None:
    derived: list[object] = []
    state: UserState | None = None
    for event in events:
        state, out = step(state, USER, event, idle_threshold_ms=threshold)
        derived.extend(out.derived)
    visits, sessions = final_view(derived)
    for closed in sessions.values():
        dwell = [v.dwell_ms for v in visits.values() if v.session_id == closed.session_id]
        assert closed.active_ms == sum(dwell)


def test_an_entry_folded_twice_from_the_loaded_states_sends_its_visits_both_times() -> None:
    """What the handler does on a retry: fold the same entry from the same loaded states."""
    b = Browser("c1", SID)
    b.start()
    b.activate(1, "https://a.example/")
    first = list(b.events)
    b.wait(4_000).activate(2, "https://b.example/")
    b.wait(6_000).activate(3, "https://c.example/")
    second = b.events[len(first) :]
    loaded = fold_entry({}, {USER: first}, 0).states  # what the state store hands back
    saved = {user: encode_state(s) for user, s in loaded.items()}

    attempts = [fold_entry(loaded, {USER: second}, 0) for _ in range(2)]

    assert {user: encode_state(s) for user, s in loaded.items()} == saved
    for attempt in attempts:
        visits = [(v.url, v.dwell_ms) for v in attempt.derived if isinstance(v, VisitClosed)]
        assert visits == [("https://a.example/", 4_000), ("https://b.example/", 6_000)]
