"""What the processors write to the derived topics: an entry's closed visits as columns,
one :class:`VisitsClosed` per run of one user's visits, which read back as exactly the
visits folded, in their order; every other topic's events as they are."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from processors.agents import by_topic, encode_by_topic
from schema.derived import DerivedBase, SessionClosed, VisitClosed, VisitsClosed
from schema.log import decode_derived_entry
from schema.topics import SESSIONS_TOPIC, VISITS_TOPIC
from schema.visits import closed_visits


def _visit(user: str, n: int) -> VisitClosed:
    return VisitClosed(
        user_id=user, visit_id=f"v{n}", client_id="c", session_id=f"s-{user}", tab_id=n % 3,
        url=f"https://example.org/{n}", url_hash=f"h{n}", domain="example.org",
        title=f"Page {n}", start_ts=1_000 * n, end_ts=1_000 * n + 500, dwell_ms=500,
        opened_seq=n, end_reason="switch" if n % 2 else "", content_hash=f"c{n}" * (n % 2),
    )  # fmt: skip


def _closed(user: str) -> SessionClosed:
    return SessionClosed(
        user_id=user, session_id=f"s-{user}", started_ts=0, stopped_ts=9, active_ms=9,
        page_count=1, domain_count=1,
    )  # fmt: skip


@given(st.lists(st.sampled_from(["alice", "bob"]), max_size=40), st.booleans())
def test_an_entrys_visits_are_written_as_columns_and_read_back_unchanged(
    users: list[str], stopped: bool
) -> None:
    derived: list[DerivedBase] = [_visit(user, n) for n, user in enumerate(users)]
    if stopped:
        derived.append(_closed("alice"))
    values = encode_by_topic(by_topic(derived), origin=7, received_at=11)
    visits = [e for e in derived if isinstance(e, VisitClosed)]
    if visits:
        entry = decode_derived_entry(values[VISITS_TOPIC])
        runs = 1 + sum(a.user_id != b.user_id for a, b in pairwise(visits))
        assert [type(e) for e in entry.events] == [VisitsClosed] * runs
        assert [v for e in entry.events for v in closed_visits(e)] == visits  # type: ignore[arg-type]
        assert (entry.origin, entry.received_at) == (7, 11)
    else:
        assert VISITS_TOPIC not in values
    if stopped:
        assert decode_derived_entry(values[SESSIONS_TOPIC]).events == [_closed("alice")]
