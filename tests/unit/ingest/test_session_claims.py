"""Refusing the events of someone else's session, one by one, positions kept (pure part)."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from ingest.session_claims import FOREIGN_SESSION_REASON, split_foreign
from ingest.validation import parse_batch
from schema.ids import uuid7
from tests.unit.ingest.factories import event_dicts

SESSIONS = [uuid7(1), uuid7(2), uuid7(3)]


@given(
    st.lists(
        st.tuples(st.sampled_from(SESSIONS), st.booleans()),  # (session, invalid?)
        min_size=1,
        max_size=30,
    ),
    st.sets(st.sampled_from(SESSIONS)),
)
def test_foreign_sessions_events_are_refused_at_their_positions_and_the_rest_kept(
    plan: list[tuple[str, bool]], foreign: set[str]
) -> None:
    events = []
    for i, (session, invalid) in enumerate(plan):
        event = event_dicts(1, session_id=session, first_seq=i + 1)[0]
        if invalid:
            event["seq"] = "not a number"
        events.append(event)
    body = msgspec.json.encode({"batch_id": uuid7(), "client_id": "ext-1", "events": events})
    parsed = split_foreign(parse_batch(body), foreign)

    kept = [i for i, (s, bad) in enumerate(plan) if not bad and s not in foreign]
    assert [e.seq for e in parsed.events] == [i + 1 for i in kept]
    refused = {
        r.rejection.index
        for r in parsed.rejected
        if r.rejection.field == "session_id" and r.rejection.reason == FOREIGN_SESSION_REASON
    }
    assert refused == {i for i, (s, bad) in enumerate(plan) if not bad and s in foreign}
    indexes = [r.rejection.index for r in parsed.rejected]
    assert indexes == sorted(indexes) and len(indexes) + len(kept) == len(plan)
    assert all(r.raw is None for r in parsed.rejected if r.rejection.index in refused)
