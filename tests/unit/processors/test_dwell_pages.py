"""The dwell fold and the mind-map input: non-pages and flicks are never pages."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.dwell import (
    MIN_VISIT_MS,
    OpenVisit,
    SessionState,
    UserState,
    encode_state,
    fold,
    step,
)
from processors.dwell_browser import current_page
from processors.dwell_state import count_visit
from processors.sessions import mindmap_pages
from processors.urls import domain_of, normalize_url, url_hash
from schema.derived import SessionClosed, SessionPage, VisitClosed
from schema.events import ClientEvent
from tests.unit.processors.browsing import Browser
from tests.unit.processors.test_dwell import THRESHOLDS, USER, browsing

SID = "0190a0b0-0000-7000-8000-000000000002"
NON_PAGES = ["about:blank", "about:blocked", "chrome://newtab/", "chrome-extension://x/popup.html"]


def test_a_switch_to_a_non_page_ends_the_visit_and_opens_none() -> None:
    b = Browser("c1", SID)
    b.start()
    b.activate(1, "https://a.example/")
    b.wait(4_000).activate(2, "about:blank")  # a new tab
    b.wait(3_000).navigate(2, "https://b.example/")
    b.wait(2_000).activate(3, "about:blocked")  # a blocked page, or the extension's popup tab
    b.wait(5_000).activate(1, "https://a.example/")
    b.wait(1_000).stop()
    _, result = fold(None, "u", b.events)
    visits = [(v.url, v.dwell_ms) for v in result.derived if isinstance(v, VisitClosed)]
    assert visits == [
        ("https://a.example/", 4_000),
        ("https://b.example/", 2_000),
        ("https://a.example/", 1_000),
    ]
    closed = next(d for d in result.derived if isinstance(d, SessionClosed))
    assert sorted(p.url for p in closed.pages) == ["https://a.example/", "https://b.example/"]
    assert closed.active_ms == 7_000


STEPS = st.lists(
    st.tuples(st.sampled_from(["page", *NON_PAGES]), st.integers(1, 3_000)), max_size=12
)


@given(STEPS)
def test_only_web_pages_held_at_least_the_threshold_become_visits(
    steps: list[tuple[str, int]],
) -> None:
    b = Browser("c1", SID)
    b.start()
    for tab, (kind, ms) in enumerate(steps):
        url = f"https://p{tab}.example/" if kind == "page" else kind
        b.activate(tab, url)
        b.wait(ms)
    b.stop()
    _, result = fold(None, "u", b.events)
    visits = [v for v in result.derived if isinstance(v, VisitClosed)]
    expected = [
        (f"https://p{tab}.example/", ms)
        for tab, (kind, ms) in enumerate(steps)
        if kind == "page" and ms >= MIN_VISIT_MS
    ]
    assert [(v.url, v.dwell_ms) for v in visits] == expected
    closed = next(d for d in result.derived if isinstance(d, SessionClosed))
    assert closed.active_ms == sum(ms for _, ms in expected)


def test_the_mind_map_never_gets_a_non_page_from_an_older_fold() -> None:
    pages = [
        SessionPage(url_hash=f"h{i}", url=url, title="", domain="", dwell_ms=1_000)
        for i, url in enumerate(["https://a.example/", *NON_PAGES])
    ]
    closed = SessionClosed(
        user_id="u",
        session_id=SID,
        started_ts=0,
        stopped_ts=10_000,
        active_ms=5_000,
        page_count=len(pages),
        domain_count=1,
        pages=pages,
    )
    assert [p.url for p in mindmap_pages(closed, {}, {})] == ["https://a.example/"]


_URLS = st.sampled_from(
    ["https://a.example/x", "https://www.b.example/y?utm_source=n", "https://a.example/x#s2"]
)


@given(st.lists(st.tuples(_URLS, st.integers(0, 10_000), st.text(max_size=5)), max_size=8))
def test_count_visit_with_the_callers_hash_and_domain_counts_as_without(
    visits: list[tuple[str, int, str]],
) -> None:
    # The fold hands count_visit the url_hash and domain it already computed for the
    # visit.closed event; the totals must be what count_visit computes on its own.
    given_parts, computed = SessionState(started_ts=0), SessionState(started_ts=0)
    for n, (url, dwell, title) in enumerate(visits):
        visit = OpenVisit(opened_seq=n, tab_id=1, url=url, title=title, start_ts=n * 10_000)
        normalized, end = normalize_url(url), n * 10_000 + dwell
        count_visit(
            given_parts, visit, normalized, end, url_hash(normalized), domain_of(normalized)
        )
        count_visit(computed, visit, normalized, end)
    assert encode_state(UserState(sessions={"s": given_parts})) == encode_state(
        UserState(sessions={"s": computed})
    )


@settings(max_examples=200, deadline=None)
@given(browsing(), THRESHOLDS)
def test_after_each_event_the_open_visit_is_the_current_page(
    events: list[ClientEvent], threshold: int
) -> None:
    # The fold picks the page to open with current_page's rules written out (its hot path):
    # after every event a client's open visit is current_page's tab and URL.
    state: UserState | None = None
    for event in events:
        state, _ = step(state, USER, event, idle_threshold_ms=threshold)
        for client in state.clients.values():
            page = current_page(client)
            if client.visit is not None:
                assert page is not None
                assert (page[0], page[1].url) == (client.visit.tab_id, client.visit.url)
