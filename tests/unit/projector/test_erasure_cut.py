"""An erasure's cut is server time: derived events go by when their upload was received."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projector.folds import Batch
from schema.derived import UserErased, VisitClosed
from schema.ids import uuid7
from schema.log import DerivedEntry

ANNA = "0190a1b2-0000-7000-8000-0000000000aa"
BO = "0190a1b2-0000-7000-8000-0000000000bb"


def visit(user: str, at: int) -> VisitClosed:
    return VisitClosed(
        user_id=user,
        visit_id=uuid7(at),
        client_id="c",
        session_id=uuid7(at),
        tab_id=1,
        url="https://a.example/",
        url_hash="h",
        domain="a.example",
        title="A",
        start_ts=at,
        end_ts=at + 1,
        dwell_ms=1,
        opened_seq=1,
    )


@given(st.integers(1, 10**13), st.integers(1, 10**6), st.integers(1, 10**6))
def test_derived_events_go_by_receive_time_never_by_their_own(
    event_time: int, received: int, cut: int
) -> None:
    batch = Batch({ANNA: cut})
    entry = DerivedEntry(
        events=[visit(ANNA, event_time), visit(BO, event_time)], received_at=received
    )
    batch.add_derived(entry)
    users = sorted(v.user_id for v in batch.visits.values())
    assert users == ([ANNA, BO] if received > cut else [BO])


@given(st.integers(1, 10**13), st.integers(0, 10**6))
def test_an_erasure_mid_batch_drops_every_pending_operation_of_the_user(
    event_time: int, cut: int
) -> None:
    batch = Batch()
    batch.add_derived(
        DerivedEntry(events=[visit(ANNA, event_time), visit(BO, event_time)], received_at=1)
    )
    batch.add_derived(DerivedEntry(events=[UserErased(user_id=ANNA, ts=cut)]))
    assert [v.user_id for v in batch.visits.values()] == [BO]
    assert ANNA in batch.erasures


def test_entries_from_before_receive_times_fall_back_to_event_times() -> None:
    batch = Batch({ANNA: 1_000})
    batch.add_derived(DerivedEntry(events=[visit(ANNA, 999)]))
    assert not batch.visits
    batch.add_derived(DerivedEntry(events=[visit(ANNA, 2_000)]))
    assert len(batch.visits) == 1
