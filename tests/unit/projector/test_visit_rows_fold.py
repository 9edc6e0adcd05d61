"""Visits as COPY rows (``VisitRows``) fold to what their columns fold to: held whole by the
fold and decoded on the rare paths, they give the same visits in the same order, the
same counts, across erasures of a session or a user and an erasure's cut by time; an
entry that does not decode is rejected whole, the batch's other visits kept."""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from mindhit.visit_rows import encode_rows
from projector.folds import Batch
from projector.visit_rows_fold import explode_rows, has_rows
from schema.derived import VisitClosed, VisitRows
from schema.log import DerivedEntry
from schema.visits import columnar

from .test_visit_columns import SESSIONS, USERS, VISIT_IDS, _fold, _staged, visit, with_erasures

valid = st.builds(
    lambda v, user, visit_id, session: msgspec.structs.replace(
        v, user_id=user, visit_id=visit_id, session_id=session
    ),
    visit,
    st.sampled_from(USERS),
    st.sampled_from([v for v in VISIT_IDS if v != "bad-id"]),
    # rows carry a session's bytes, not its spelling: valid, lower-case ids
    st.sampled_from([s for s in SESSIONS if s != "not-a-session" and s == s.lower()]),
)


def _as(shape: str, entry: DerivedEntry) -> DerivedEntry:
    events: list[Any] = list(entry.events)
    if shape == "columns":
        events = columnar(events)
    elif shape == "rows":
        events = [encode_rows(e.user_id, [e]) for e in events]  # runs of one
    return DerivedEntry(events=events, origin=entry.origin, received_at=entry.received_at)


@settings(max_examples=200, deadline=None)
@given(
    entries=st.lists(
        st.tuples(
            st.lists(valid, min_size=1, max_size=12),
            st.sampled_from([0, 10**12]),
            st.sampled_from(["events", "columns", "rows"]),
        ),
        min_size=1,
        max_size=5,
    ),
    cut=st.none() | st.sampled_from([10**12, 1_720_000_000_000, 0]),
    erase_at=st.none() | st.integers(0, 5),
)
def test_rows_fold_to_the_visits_their_columns_fold_to(
    entries: list[tuple[list[VisitClosed], int, str]], cut: int | None, erase_at: int | None
) -> None:
    erased = {} if cut is None else {USERS[0]: cut}
    plain = [DerivedEntry(events=list(v), received_at=r) for v, r, _ in entries]  # type: ignore[arg-type]
    columns = [_as("columns", e) for e in plain]
    mixed = [_as(shape, e) for e, (_, _, shape) in zip(plain, entries, strict=True)]
    with_erasures(erase_at, columns, mixed)  # a session and a user erased mid-log
    a, b = _fold(columns, erased), _fold(mixed, erased)
    explode_rows(b)
    assert not has_rows(b.visits.values())
    assert list(a.visits) == list(b.visits)
    assert _staged(a) == _staged(b)
    assert (a.events, a.rejected) == (b.events, b.rejected)


def _visit(n: int, user: str = USERS[0]) -> VisitClosed:
    return VisitClosed(
        user_id=user, visit_id=VISIT_IDS[n], client_id="c", session_id=SESSIONS[0], tab_id=1,
        url="u", url_hash="h", domain="d", title=f"t{n}", start_ts=1, end_ts=2, dwell_ms=1,
        opened_seq=n,
    )  # fmt: skip


def test_an_entry_that_does_not_decode_is_rejected_whole_and_the_rest_kept() -> None:
    good = encode_rows(USERS[0], [_visit(0), _visit(1)])
    cut_short = VisitRows(user_id=USERS[0], layout=1, count=2, rows=good.rows[:-3])
    theirs = encode_rows(USERS[1], [_visit(3, USERS[1])])
    smuggled = VisitRows(user_id=USERS[0], layout=1, count=1, rows=theirs.rows)
    later = encode_rows(USERS[0], [_visit(2)])
    batch = _fold([DerivedEntry(events=[good, cut_short, smuggled, later], received_at=5)], {})
    assert batch.events == 6 and batch.rejected == 0  # held whole: nothing decoded yet
    explode_rows(batch)
    assert [key[1] for key in batch.visits] == VISIT_IDS[:3]
    assert batch.rejected == 3  # the short entry's 2 visits and the smuggled one


def test_a_later_version_in_another_shape_replaces_what_an_entry_of_rows_holds() -> None:
    older = msgspec.structs.replace(_visit(0), title="older")
    newer = msgspec.structs.replace(_visit(0), title="newer")
    for later in ([newer], columnar([newer])):
        batch = Batch()
        _fold_into(batch, [_visit(1)])  # its key comes first
        _fold_into(batch, [encode_rows(USERS[0], [_visit(1), older])])
        _fold_into(batch, later)
        explode_rows(batch)
        assert [row[8] for row in _staged(batch)] == ["t1", "newer"]


def test_an_unknown_layout_or_user_is_rejected_by_the_fold() -> None:
    good = encode_rows(USERS[0], [_visit(0)])
    future = VisitRows(user_id=USERS[0], layout=2, count=1, rows=good.rows)
    nobody = VisitRows(user_id="bad-user", layout=1, count=1, rows=good.rows)
    batch = Batch()
    _fold_into(batch, [future, nobody, good])
    assert batch.rejected == 2 and len(batch.visits) == 1


def _fold_into(batch: Batch, events: list[Any]) -> None:
    batch.add_derived(DerivedEntry(events=events, received_at=5))
