"""Pure folds: duplicates, redelivery and topic interleaving never change the result."""

from __future__ import annotations

import functools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from projector.consumer import fold_value
from projector.folds import Batch
from projector.rows import SessionPatch, UrlPatch, merge_session, merge_url
from projector.synthetic import synth_log, user_ids
from projector.visit_rows_fold import explode_rows
from schema.derived import UserErased
from schema.log import DerivedEntry, encode_derived_entry

SID = "0190a1b2-0000-7000-8000-000000000001"
UID = "0190a1b2-0000-7000-8000-0000000000aa"


def _streams(seed: int) -> dict[tuple[str, str], list[bytes]]:
    """Entries of a small synthetic log, per (topic, user) stream, in stream order."""
    out: dict[tuple[str, str], list[bytes]] = {}
    for item in synth_log(seed, users=3, sessions_per_user=2, visits_per_session=5):
        out.setdefault((item.topic, item.key), []).append(item.value)
    return out


def _fold(deliveries: list[tuple[str, bytes]]) -> Batch:
    batch = Batch()
    for topic, value in deliveries:
        fold_value(batch, topic, value)
    return batch


def _state(batch: Batch) -> tuple[object, ...]:
    """What the batch writes: its entries of COPY rows (held whole, one per delivery) as
    their visits, as staging takes them when the same visit comes twice."""
    explode_rows(batch)
    return (batch.sessions, batch.urls, batch.texts, batch.visits, batch.mindmaps, batch.erasures)


_LOGS = {seed: _streams(seed) for seed in range(4)}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 3), data=st.data())
def test_duplicates_and_redelivery_fold_like_once(seed: int, data: st.DataObject) -> None:
    """Each stream redelivered from an earlier offset, with duplicates, in any interleaving."""
    streams = _LOGS[seed]
    once_order: list[tuple[str, bytes]] = [(k[0], v) for k, vs in streams.items() for v in vs]
    delivered: dict[tuple[str, str], list[bytes]] = {}
    for key, values in streams.items():
        crash_at = data.draw(st.integers(0, len(values)))
        resume_from = data.draw(st.integers(0, crash_at))
        seq = values[:crash_at] + values[resume_from:]
        dup = data.draw(st.integers(0, max(0, len(seq) - 1)))
        if seq:
            seq.insert(dup, seq[dup])
        delivered[key] = seq
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    cursors = {k: 0 for k in delivered}
    mixed: list[tuple[str, bytes]] = []
    while cursors:
        key = rng.choice(sorted(cursors))
        mixed.append((key[0], delivered[key][cursors[key]]))
        cursors[key] += 1
        if cursors[key] == len(delivered[key]):
            del cursors[key]
    assert _state(_fold(mixed)) == _state(_fold(once_order))


raw_patch = st.builds(
    SessionPatch,
    session_id=st.just(SID),
    user_id=st.just(UID),
    client_id=st.sampled_from([None, "c1"]),
    label=st.sampled_from([None, "work"]),
    started_at=st.integers(0, 100),
    last_event_at=st.integers(0, 100),
    stopped_at=st.none() | st.integers(0, 100),
    status=st.none() | st.sampled_from(["recording", "processing"]),
    status_at=st.integers(0, 100),
)
derived_patch = st.builds(
    SessionPatch,
    session_id=st.just(SID),
    user_id=st.just(UID),
    started_at=st.none() | st.integers(0, 100),
    stopped_at=st.none() | st.integers(0, 100),
    status=st.none() | st.sampled_from(["processing", "completed", "failed"]),
    status_at=st.integers(0, 100),
    status_reason=st.sampled_from([None, "", "ai down"]),
    active_ms=st.none() | st.integers(0, 10),
    page_count=st.none() | st.integers(0, 10),
)


@settings(max_examples=200, deadline=None)
@given(
    raw=st.lists(raw_patch, min_size=1, max_size=6),
    derived=st.lists(derived_patch, min_size=1, max_size=6),
    picks=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_session_merge_does_not_depend_on_topic_interleaving(
    raw: list[SessionPatch], derived: list[SessionPatch], picks: list[bool]
) -> None:
    for p in (*raw, *derived):
        if p.status is None:
            p.status_at = None
            p.status_reason = None
    in_order = functools.reduce(merge_session, raw + derived)
    r, d, mixed = list(raw), list(derived), []
    for pick in picks:
        source = r if (pick and r) or not d else d
        if source:
            mixed.append(source.pop(0))
    mixed += r + d
    assert functools.reduce(merge_session, mixed) == in_order
    assert merge_session(in_order, in_order) == in_order  # idempotent


url_patch = st.builds(
    UrlPatch,
    url_hash=st.just("h"),
    content_hash=st.just("c"),
    user_id=st.sampled_from([UID, SID]),
    discovered=st.booleans(),
    first_seen_at=st.integers(0, 5),
    enriched_at=st.none() | st.integers(0, 5),
    summary=st.sampled_from(["a", "b"]),
    provider=st.sampled_from(["local", "gemini"]),
).map(
    lambda p: UrlPatch(
        url_hash=p.url_hash,
        content_hash=p.content_hash,
        user_id=p.user_id,
        discovered=p.discovered,
        url=f"u{p.first_seen_at}" if p.discovered else None,
        first_seen_at=p.first_seen_at if p.discovered else None,
        summary=p.summary if p.enriched_at is not None else None,
        provider=p.provider if p.enriched_at is not None else None,
        enriched_at=p.enriched_at,
    )
)


@settings(max_examples=300, deadline=None)
@given(a=url_patch, b=url_patch, c=url_patch)
def test_url_merge_is_commutative_associative_idempotent(
    a: UrlPatch, b: UrlPatch, c: UrlPatch
) -> None:
    assert merge_url(a, b) == merge_url(b, a)
    assert merge_url(merge_url(a, b), c) == merge_url(a, merge_url(b, c))
    assert merge_url(a, a) == a


def test_erasure_mid_batch_drops_earlier_and_later_events_of_that_user() -> None:
    users = user_ids(30, 2)
    items = list(synth_log(30, users=2, sessions_per_user=1, visits_per_session=4))
    cut = 2_000_000_000_000
    erase = encode_derived_entry(DerivedEntry(events=[UserErased(user_id=users[0], ts=cut)]))
    half = len(items) // 2
    deliveries = [(i.topic, i.value) for i in items[:half]] + [("sessions", erase)]
    deliveries += [(i.topic, i.value) for i in items[half:]]
    batch = _fold(deliveries)
    rows = (batch.sessions, batch.urls, batch.texts, batch.mindmaps)
    owners = {row.user_id for store in rows for row in store.values()}  # type: ignore[attr-defined]
    owners |= {user for user, _ in batch.visits}  # a visit may be its staging row
    assert owners == {users[1]}
    assert set(batch.erasures) == {users[0]} and batch.erasures[users[0]].at == cut
    # What the user records after the erasure is projected again.
    later = synth_log(30, users=2, sessions_per_user=1, visits_per_session=4, base_ts=cut + 1)
    for item in later:
        fold_value(batch, item.topic, item.value)
    assert users[0] in {user for user, _ in batch.visits}


def test_poison_ids_are_rejected_not_fatal() -> None:
    bad = UserErased(user_id="not-a-uuid", ts=1)
    batch = Batch()
    fold_value(batch, "sessions", encode_derived_entry(DerivedEntry(events=[bad])))
    fold_value(batch, "visits", b"\x09garbage")
    assert batch.rejected == 2 and not batch.erasures


_ids = st.sampled_from(
    [
        "0190c2a3-4b5c-7d6e-8f90-a1b2c3d4e5f6",
        "0190C2A3-4B5C-7D6E-8F90-A1B2C3D4E5F6",
        "11111111-2222-4333-8444-555555555555",
        "not-a-uuid",
        "0190c2a34b5c7d6e8f90a1b2c3d4e5f6",
        "0190c2a3-4b5c-7d6e-8f90-a1b2c3d4e5f",
        "",
    ]
)


@given(visits=st.lists(st.tuples(_ids, _ids, _ids), max_size=30))
def test_remembered_ids_reject_exactly_what_is_uuid_rejects(
    visits: list[tuple[str, str, str]],
) -> None:
    """The batch remembers the ids it validated (hot path): a visit is folded iff its
    visit, session and user ids are UUIDs, however often and in whatever order ids repeat."""
    from projector.folds import is_uuid
    from schema.derived import VisitClosed

    events = [
        VisitClosed(
            user_id=u, visit_id=v, client_id="c", session_id=s, tab_id=1, url="https://e.org/",
            url_hash="h", domain="e.org", title="t", start_ts=1, end_ts=2, dwell_ms=1,
            opened_seq=n, end_reason="switch",
        )
        for n, (v, s, u) in enumerate(visits)
    ]  # fmt: skip
    batch = Batch()
    fold_value(batch, "visits", encode_derived_entry(DerivedEntry(events=events)))
    valid = [(u, v) for v, s, u in visits if is_uuid(v) and is_uuid(s) and is_uuid(u)]
    assert batch.rejected == len(visits) - len(valid)
    assert set(batch.visits) == set(valid)
    assert batch.events == len(visits)


def test_late_derived_events_of_a_session_erased_stay_erased() -> None:
    """A mind map or status derived after the erasure, for a session before it, is skipped."""
    from schema.derived import MindmapBuilt, MindmapNode, SessionStatusChanged
    from schema.ids import uuid7

    cut = 1_900_000_000_000
    old_session, new_session = uuid7(cut - 60_000), uuid7(cut + 60_000)
    batch = Batch({UID: cut})
    late = [
        SessionStatusChanged(user_id=UID, session_id=old_session, status="completed", ts=cut + 5),
        MindmapBuilt(
            user_id=UID, session_id=old_session, root=MindmapNode(label="x"), provider="local",
            built_ts=cut + 9,
        ),
        SessionStatusChanged(
            user_id=UID, session_id=new_session, status="completed", ts=cut + 70_000
        ),
    ]  # fmt: skip
    fold_value(batch, "sessions", encode_derived_entry(DerivedEntry(events=late)))
    assert set(batch.sessions) == {(UID, new_session)} and not batch.mindmaps
