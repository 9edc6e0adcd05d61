"""``handed_events``: which archived url events follow a handed-over page version."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from projector.shared_pages import handed_events
from schema.derived import UrlDiscovered, UrlEnriched, VisitClosed
from schema.log import DerivedEntry

ERASED = "00000000-0000-7000-8000-0000000000e1"
HEIRS = ["00000000-0000-7000-8000-0000000000f1", "00000000-0000-7000-8000-0000000000f2"]
VERSIONS = [("u1", "c1"), ("u1", "c2"), ("u2", "")]


def _discovered(version: tuple[str, str]) -> UrlDiscovered:
    return UrlDiscovered(
        user_id=ERASED, url_hash=version[0], content_hash=version[1], url="https://x/",
        domain="x", title="Inbox (3) - ann@example.com", first_seen_ts=5, lang="secret-tag",
        text="t",
    )  # fmt: skip


def _enriched(version: tuple[str, str]) -> UrlEnriched:
    return UrlEnriched(
        user_id=ERASED, url_hash=version[0], content_hash=version[1], summary="s",
        tags=["a"], topic="t", provider="local", enriched_ts=9,
    )  # fmt: skip


def _visit() -> VisitClosed:
    return VisitClosed(
        user_id=ERASED, visit_id="v", client_id="c", session_id="s", tab_id=1,
        url="https://x/", url_hash="u1", domain="x", title="", start_ts=1, end_ts=2,
        dwell_ms=1, opened_seq=1, content_hash="c1",
    )  # fmt: skip


events = st.lists(
    st.one_of(
        st.sampled_from(VERSIONS).map(_discovered),
        st.sampled_from(VERSIONS).map(_enriched),
        st.just(_visit()),
    ),
    max_size=12,
)
heirs = st.dictionaries(
    st.sampled_from(VERSIONS),
    st.tuples(st.sampled_from(HEIRS), st.one_of(st.none(), st.integers(0, 10**13))),
)


@given(events, heirs, st.integers(-1, 100), st.integers(0, 10**13))
def test_exactly_the_url_events_of_handed_versions_move_to_their_heir(
    evs: list[object], given_heirs: dict[tuple[str, str], tuple[str, int | None]],
    origin: int, received: int,
) -> None:  # fmt: skip
    entry = DerivedEntry(events=evs, origin=origin, received_at=received)  # type: ignore[arg-type]
    moved = handed_events(entry, given_heirs)
    expected = [
        e
        for e in evs
        if isinstance(e, UrlDiscovered | UrlEnriched)
        and (e.url_hash, e.content_hash) in given_heirs
    ]
    assert sum(len(m.events) for m in moved.values()) == len(expected)
    for heir, part in moved.items():
        assert part.origin == origin and part.received_at == received
        for event in part.events:
            assert isinstance(event, UrlDiscovered | UrlEnriched)
            version = (event.url_hash, event.content_hash)
            assert given_heirs[version][0] == heir == event.user_id
            if isinstance(event, UrlDiscovered):
                assert event.lang == event.title == ""  # the erased user's own bytes go
                seen = given_heirs[version][1]
                assert event.first_seen_ts == (5 if seen is None else seen)
