"""Session lifecycle rules and the mind-map input built from a closed session."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.content import CachedEnrichment
from processors.sessions import ALLOWED, LifecycleError, mindmap_pages, status_event, transition
from schema.derived import SessionClosed, SessionPage


def closed(*pages: SessionPage) -> SessionClosed:
    return SessionClosed(
        user_id="u",
        session_id="s",
        started_ts=0,
        stopped_ts=10,
        active_ms=sum(p.dwell_ms for p in pages),
        page_count=len(pages),
        domain_count=1,
        pages=list(pages),
    )


def test_a_completed_session_never_goes_back_but_a_failed_one_can_be_retried() -> None:
    assert transition("recording", "processing") == "processing"
    assert transition("processing", "completed") == "completed"
    assert transition("failed", "processing") == "processing"
    with pytest.raises(LifecycleError):
        transition("completed", "processing")
    with pytest.raises(LifecycleError):
        transition("recording", "completed")


@given(st.lists(st.sampled_from(sorted(ALLOWED)), max_size=12))
def test_no_path_leaves_completed(path: list[str]) -> None:
    current = "completed"
    for status in path:
        with pytest.raises(LifecycleError):
            transition(current, status)


def test_mindmap_pages_join_text_and_enrichment_by_content() -> None:
    page = SessionPage(
        url_hash="h1", url="https://a/", title="A", domain="a", dwell_ms=7, content_hash="c1"
    )
    stale = SessionPage(
        url_hash="h2", url="https://b/", title="B", domain="b", dwell_ms=3, content_hash="c9"
    )
    cached = {
        ("h1", "c1"): CachedEnrichment(
            summary="sum", tags=["x", "y", "z"], topic="t", provider="local", enriched_ts=1
        ),
        ("h2", "c2"): CachedEnrichment(
            summary="old", tags=["o"], topic="o", provider="local", enriched_ts=1
        ),
    }
    pages = mindmap_pages(closed(page, stale), {"c1": "text one"}, cached)
    assert [(p.url, p.dwell_ms, p.text, p.summary) for p in pages] == [
        ("https://a/", 7, "text one", "sum"),
        ("https://b/", 3, "", ""),  # another content version's summary is never reused
    ]


def test_status_reason_is_one_line_and_bounded() -> None:
    event = status_event(closed(), "failed", 5, "model said:\n" + "x" * 2000)
    assert "\n" not in event.reason and len(event.reason) == 500
