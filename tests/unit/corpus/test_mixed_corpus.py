"""The labelled corpus is hard on purpose: overlapping words, mixed lengths, two halves."""

from __future__ import annotations

from collections import Counter

from processors.ai.text import tokens
from tests.unit.corpus.mixed import load_labelled, make_sessions, topic_names

EVERYDAY = ["temperature", "pressure", "water", "season", "board", "set", "plan", "balance", "kit"]


def test_twelve_topics_each_in_both_halves_with_distinct_urls() -> None:
    pages = load_labelled()
    assert len(topic_names()) >= 12
    assert len({p.url for p in pages}) == len(pages)
    for half in ("tune", "heldout"):
        counts = Counter(p.topic for p in load_labelled(half))
        assert set(counts) == set(topic_names()) and min(counts.values()) >= 7


def test_everyday_words_are_shared_across_unrelated_topics() -> None:
    topics_of: dict[str, set[str]] = {}
    for page in load_labelled():
        for word in set(tokens(f"{page.title} {page.text}")):
            topics_of.setdefault(word, set()).add(page.topic)
    shared = [w for w in EVERYDAY if len(topics_of.get(w, set())) >= 3]
    assert len(shared) >= 7, shared


def test_pages_range_from_short_replies_to_guides_with_headings() -> None:
    lengths = sorted(len(p.text.split()) for p in load_labelled())
    assert lengths[0] <= 30 and lengths[-1] >= 150
    with_headings = [p for p in load_labelled() if len(p.text.splitlines()) >= 5]
    assert len(with_headings) >= 12


def test_sessions_are_reproducible_and_within_bounds() -> None:
    first = make_sessions("tune", 40, 3)
    assert first == make_sessions("tune", 40, 3)
    for session in first:
        assert 3 <= len(session.pages) <= 40 and 1 <= len(session.topics) <= 6
        assert {p.half for p in session.pages} == {"tune"}
        counts = Counter(p.topic for p in session.pages)
        assert min(counts.values()) >= 2
        assert len({p.url for p in session.pages}) == len(session.pages)
