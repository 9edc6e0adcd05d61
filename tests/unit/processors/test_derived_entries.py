"""What the processors write to the derived topics: an entry's closed visits as the rows
of a binary COPY, one :class:`VisitRows` per run of one user's visits, which read back as
exactly the visits folded, in their order; every other topic's events as they are. A
visit rows cannot hold never stops the processors: its run goes as columns."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from mindhit.storable_visit import storable_visit
from mindhit.visit_rows import as_columns, as_rows, encode_rows
from processors.agents import by_topic, encode_by_topic
from schema.derived import DerivedBase, SessionClosed, VisitClosed, VisitRows, VisitsClosed
from schema.ids import deterministic_id
from schema.log import decode_derived_entry
from schema.topics import SESSIONS_TOPIC, VISITS_TOPIC
from schema.visits import closed_visits, columns_of, visit_runs

USERS = {name: deterministic_id("user", name) for name in ("alice", "bob")}


def _visit(user: str, n: int, tab_id: int | None = None) -> VisitClosed:
    return VisitClosed(
        user_id=user, visit_id=deterministic_id("visit", str(n)), client_id="c",
        session_id=deterministic_id("session", user), tab_id=n % 3 if tab_id is None else tab_id,
        url=f"https://example.org/{n}", url_hash=f"h{n}", domain="example.org",
        title=f"Page {n}", start_ts=1_000 * n, end_ts=1_000 * n + 500, dwell_ms=500,
        opened_seq=n, end_reason="switch" if n % 2 else "", content_hash=f"c{n}" * (n % 2),
    )  # fmt: skip


def _closed(user: str) -> SessionClosed:
    return SessionClosed(
        user_id=user, session_id=deterministic_id("session", user), started_ts=0, stopped_ts=9,
        active_ms=9, page_count=1, domain_count=1,
    )  # fmt: skip


def _read_back(value: bytes) -> tuple[list[type], list[VisitClosed]]:
    """The entry's event types and its visits one per event, as a reader gets them."""
    events = decode_derived_entry(value).events
    visits: list[VisitClosed] = []
    for e in events:
        visits += closed_visits(as_columns(e) if isinstance(e, VisitRows) else e)  # type: ignore[arg-type]
    return [type(e) for e in events], visits


@given(st.lists(st.sampled_from(sorted(USERS.values())), max_size=40), st.booleans())
def test_an_entrys_visits_are_written_as_rows_and_read_back_unchanged(
    users: list[str], stopped: bool
) -> None:
    derived: list[DerivedBase] = [_visit(user, n) for n, user in enumerate(users)]
    if stopped:
        derived.append(_closed(USERS["alice"]))
    values = encode_by_topic(by_topic(derived), origin=7, received_at=11)
    visits = [e for e in derived if isinstance(e, VisitClosed)]
    if visits:
        types, read = _read_back(values[VISITS_TOPIC])
        runs = 1 + sum(a.user_id != b.user_id for a, b in pairwise(visits))
        assert types == [VisitRows] * runs
        assert read == visits
        entry = decode_derived_entry(values[VISITS_TOPIC])
        assert (entry.origin, entry.received_at) == (7, 11)
    else:
        assert VISITS_TOPIC not in values
    if stopped:
        assert decode_derived_entry(values[SESSIONS_TOPIC]).events == [_closed(USERS["alice"])]


@given(st.integers(2**31, 2**63 - 1) | st.integers(-1, -1))
def test_a_tab_id_no_browser_has_is_written_as_no_tab_known(tab_id: int) -> None:
    alice = USERS["alice"]
    visits = [_visit(alice, 1), _visit(alice, 2, tab_id=tab_id)]
    types, read = _read_back(encode_by_topic(by_topic(visits), 0, 0)[VISITS_TOPIC])
    assert types == [VisitRows]
    assert [v.tab_id for v in read] == [1, -1]
    assert read[1] == VisitClosed(**{**_fields(visits[1]), "tab_id": -1})


def test_a_run_rows_cannot_hold_goes_as_columns_and_the_others_as_rows() -> None:
    odd = _visit("not-a-uuid", 3)  # no processors write one: its ids are no UUIDs
    derived = [_visit(USERS["alice"], 1), odd, _visit(USERS["bob"], 2)]
    types, read = _read_back(encode_by_topic(by_topic(derived), 0, 0)[VISITS_TOPIC])
    assert types == [VisitRows, VisitsClosed, VisitRows]
    assert read == derived


ODD_VALUES = [
    {"tab_id": 2**31},  # cut to -1
    {"title": "Å" * 1300},  # beyond a btree entry: cut
    {"title": "\ud800"},  # a lone surrogate: no UTF-8, no rows
    {"session_id": "abcd"},  # hex, but no UUID
    {"dwell_ms": 2**63},  # beyond int8
    {"user_id": "not-a-uuid"},
]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(USERS.values())),
            st.sampled_from([{}] * len(ODD_VALUES) + ODD_VALUES),
            st.booleans(),
        ),
        max_size=30,
    )
)
def test_each_run_is_written_as_it_would_be_alone_whatever_the_others_hold(
    cases: list[tuple[str, dict[str, object], bool]],
) -> None:
    """The runs of an entry are encoded together (issue 14), yet a run's rows are exactly
    its own: a value another run cannot hold changes nothing of this one."""
    derived: list[DerivedBase] = []
    for n, (user, odd, stopped) in enumerate(cases):
        derived.append(VisitClosed(**{**_fields(_visit(user, n)), **odd}))  # type: ignore[arg-type]
        if stopped:
            derived.append(_closed(user))

    def alone(run: list[VisitClosed]) -> VisitRows | VisitsClosed:
        user = run[0].user_id
        for visits in (run, [storable_visit(v) for v in run]):
            try:
                return encode_rows(user, visits)
            except ValueError:
                continue
        return columns_of(user, run)

    expected = [alone(i) if isinstance(i, list) else i for i in visit_runs(derived)]
    assert as_rows(derived) == expected


def _fields(visit: VisitClosed) -> dict[str, object]:
    return {f: getattr(visit, f) for f in visit.__struct_fields__}
