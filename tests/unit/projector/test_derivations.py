"""Which entries a derivation supersedes, and erased users kept out of a re-derivation."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projector.consumer import fold_value
from projector.derivations import superseded
from projector.folds import Batch, without_erased
from schema.derived import UserErased, VisitClosed
from schema.events import IdleState
from schema.ids import uuid7
from schema.log import DerivedEntry, RawEntry, Upload, encode_derived_entry

ANNA = "0190a1b2-0000-7000-8000-0000000000aa"
BO = "0190a1b2-0000-7000-8000-0000000000bb"


def visit(origin: int) -> bytes:
    event = VisitClosed(
        user_id=ANNA,
        visit_id=uuid7(5),
        client_id="c",
        session_id=uuid7(1),
        tab_id=1,
        url="https://a.example/",
        url_hash="h",
        domain="a.example",
        title="A",
        start_ts=1_000,
        end_ts=61_000,
        dwell_ms=60_000,
        opened_seq=1,
        end_reason="tab_switch",
    )
    return encode_derived_entry(DerivedEntry(events=[event], origin=origin))


@given(st.integers(1, 1_000))
def test_only_entries_from_raw_entries_below_the_cutover_are_superseded(cutover: int) -> None:
    assert superseded(0, cutover) and superseded(cutover - 1, cutover)
    assert not superseded(cutover, cutover)  # the live workers' own output goes on
    assert not superseded(-1, cutover)  # erasures and retried old work always count
    assert not superseded(0, 0)  # no derivation in force: nothing is superseded


def test_a_superseded_visit_is_not_folded_and_a_newer_one_is() -> None:
    batch = Batch()
    fold_value(batch, "visits", visit(origin=3), cutover=4)
    assert not batch.visits and batch.superseded == 1
    fold_value(batch, "visits", visit(origin=4), cutover=4)
    assert len(batch.visits) == 1
    erased = encode_derived_entry(DerivedEntry(events=[UserErased(user_id=ANNA, ts=9)]))
    fold_value(batch, "sessions", erased, cutover=4)
    assert ANNA in batch.erasures


def upload(user: str, times: list[int], started: int = 1, received: int = 0) -> Upload:
    session = uuid7(started)
    events = [
        IdleState(event_id=uuid7(t), client_id="c", session_id=session, seq=i, ts=t, state="idle")
        for i, t in enumerate(times, start=1)
    ]
    return Upload(
        batch_id=uuid7(1), user_id=user, client_id="c", received_at=received, events=events
    )


@given(
    st.lists(st.integers(1, 10**13), min_size=1, max_size=8),
    st.lists(st.integers(1, 10_000), min_size=1, max_size=8),
    st.integers(1, 10**13),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
)
def test_erased_users_uploads_received_up_to_the_cut_never_reach_a_rederivation(
    anna: list[int], bo: list[int], started: int, received: int, cut: int
) -> None:
    """An upload is judged by when the gateway received it, never by the client's clock
    (event times and session ids far in the future change nothing)."""
    entry = RawEntry(
        uploads=[upload(ANNA, anna, started, received), upload(BO, bo, started, received)]
    )
    kept = without_erased(entry, {ANNA: cut})
    by_user = {u.user_id: [e.ts for e in u.events] for u in kept.uploads}
    assert by_user[BO] == bo  # nobody else loses anything
    assert by_user.get(ANNA, []) == ([] if received <= cut else anna)
    assert without_erased(entry, {}) is entry
