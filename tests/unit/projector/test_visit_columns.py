"""Visits as columns (``VisitsClosed``) fold to exactly the rows their ``VisitClosed`` events
fold to: the same staged rows in the same order, the same rejections, erasures and merges."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from projector.consumer import fold_value
from projector.copy_rows import staged_rows
from projector.erase_session import _keep_derived
from projector.folds import Batch
from projector.tables import PAGE_VISITS
from schema.derived import DerivedEvent, SessionErased, UserErased, VisitClosed, VisitsClosed
from schema.log import DerivedEntry, decode_derived_entry, encode_derived_entry
from schema.visits import closed_visits, columnar

USERS = ["0190c2a3-4b5c-7d6e-8f90-a1b2c3d4e5f6", "11111111-2222-4333-8444-555555555555"]
SESSIONS = [
    "0190c2a3-0000-7000-8000-000000000001",  # UUIDv7: its creation time meets a cut
    "0190C2A3-0000-7000-8000-000000000002",
    "22222222-2222-4222-8222-222222222222",
    "not-a-session",
]
VISIT_IDS = [f"00000000-0000-4000-8000-{n:012x}" for n in range(6)] + ["bad-id"]

visit = st.builds(
    VisitClosed,
    user_id=st.sampled_from([USERS[0], *USERS, "bad-user"]),
    visit_id=st.sampled_from(VISIT_IDS),
    client_id=st.sampled_from(["c1", "c2"]),
    session_id=st.sampled_from(SESSIONS),
    tab_id=st.integers(-(2**31), 2**31 - 1),
    url=st.text(max_size=8),
    url_hash=st.text(max_size=4),
    domain=st.text(max_size=4),
    title=st.text(max_size=8),
    start_ts=st.sampled_from([5, 10**12, 10**12 + 1]) | st.integers(0, 2 * 10**12),
    end_ts=st.integers(0, 2 * 10**12),
    dwell_ms=st.integers(0, 10**9),
    opened_seq=st.integers(0, 2**62),
    end_reason=st.sampled_from(["", "switch"]),
    content_hash=st.sampled_from(["", "ab"]),
)


def with_erasures(at: int | None, *logs: list[DerivedEntry]) -> None:
    """Insert into each log, from entry ``at`` on (None: nothing), an erasure of a session
    and then one of a user, as two entries."""
    if at is None:
        return
    drop: list[DerivedEvent] = [
        SessionErased(user_id=USERS[1], session_id=SESSIONS[2], ts=1),
        UserErased(user_id=USERS[0], ts=10**12),
    ]
    for log in logs:
        log.insert(min(at, len(log)), DerivedEntry(events=drop[:1]))
        log.insert(min(at + 1, len(log)), DerivedEntry(events=drop[1:]))


def _fold(entries: list[DerivedEntry], erased: dict[str, int]) -> Batch:
    batch = Batch(erased)
    for entry in entries:
        fold_value(batch, "visits", encode_derived_entry(entry))
    return batch


def _staged(batch: Batch) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in staged_rows(PAGE_VISITS)(list(batch.visits.values()))]


def _as_columns(entry: DerivedEntry) -> DerivedEntry:
    return DerivedEntry(
        events=columnar(entry.events), origin=entry.origin, received_at=entry.received_at
    )


@settings(max_examples=200, deadline=None)
@given(
    entries=st.lists(
        st.tuples(
            st.lists(visit, min_size=1, max_size=12), st.sampled_from([0, 10**12]), st.booleans()
        ),
        min_size=1,
        max_size=5,
    ),
    cut=st.none() | st.sampled_from([10**12, 1_720_000_000_000, 0]),
    erase_at=st.none() | st.integers(0, 5),
)
def test_columns_fold_to_the_rows_their_events_fold_to(
    entries: list[tuple[list[VisitClosed], int, bool]], cut: int | None, erase_at: int | None
) -> None:
    """Any mix of entries as columns folds like all of them as events: same keys in the same
    order, same staged rows, same counts; also across an erasure of a session or user."""
    erased = {} if cut is None else {USERS[0]: cut}
    old = [DerivedEntry(events=list(v), received_at=r) for v, r, _ in entries]  # type: ignore[arg-type]
    mixed = [
        _as_columns(e) if as_cols else e for e, (_, _, as_cols) in zip(old, entries, strict=True)
    ]
    with_erasures(erase_at, old, mixed)
    a, b = _fold(old, erased), _fold(mixed, erased)
    assert list(a.visits) == list(b.visits)
    assert _staged(a) == _staged(b)
    assert (a.events, a.rejected, len(a)) == (b.events, b.rejected, len(b))


@given(visits=st.lists(visit, max_size=12))
def test_columns_round_trip_through_the_log(visits: list[VisitClosed]) -> None:
    entry = DerivedEntry(events=columnar(visits), origin=3, received_at=9)  # type: ignore[arg-type]
    decoded = decode_derived_entry(encode_derived_entry(entry))
    back = [v for e in decoded.events for v in closed_visits(e)]  # type: ignore[arg-type]
    assert back == visits
    users = [v.user_id for v in visits]
    runs = sum(1 for i, u in enumerate(users) if i == 0 or u != users[i - 1])
    assert len(decoded.events) == runs


def test_columns_of_different_lengths_are_rejected_whole() -> None:
    (good,) = columnar([_a_visit()])
    assert isinstance(good, VisitsClosed)
    bad = VisitsClosed(**{**_fields(good), "title": []})
    batch = _fold([DerivedEntry(events=[bad, good], received_at=5)], {})
    assert batch.rejected == 1 and batch.events == 2 and len(batch.visits) == 1


@given(visits=st.lists(visit, max_size=12), gone=st.sets(st.sampled_from(SESSIONS)))
def test_erasing_sessions_from_archived_columns_keeps_what_it_keeps_of_events(
    visits: list[VisitClosed], gone: set[str]
) -> None:
    old = _keep_derived(DerivedEntry(events=list(visits)), gone, set())  # type: ignore[arg-type]
    entry = DerivedEntry(events=columnar(visits), origin=4, received_at=9)  # type: ignore[arg-type]
    new = _keep_derived(entry, gone, set())
    assert [v for e in new.events for v in closed_visits(e)] == old.events  # type: ignore[arg-type]
    assert (new.origin, new.received_at) == (4, 9)  # the erasure cut and retention read it


def _fields(event: VisitsClosed) -> dict[str, Any]:
    return {f: getattr(event, f) for f in event.__struct_fields__}


def _a_visit() -> VisitClosed:
    return VisitClosed(
        user_id=USERS[0], visit_id=VISIT_IDS[0], client_id="c", session_id=SESSIONS[0],
        tab_id=1, url="u", url_hash="h", domain="d", title="t", start_ts=1, end_ts=2,
        dwell_ms=1, opened_seq=1,
    )  # fmt: skip
