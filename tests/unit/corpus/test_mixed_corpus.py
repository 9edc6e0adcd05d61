"""The labelled corpus is hard on purpose: overlapping words, mixed lengths, two halves."""

from __future__ import annotations

from collections import Counter

from processors.ai.text import tokens
from tests.unit.corpus.mixed import load_labelled, make_sessions, topic_names

EVERYDAY = ["temperature", "pressure", "water", "season", "board", "set", "plan", "balance", "kit"]


def test_sixteen_topics_each_in_both_halves_with_distinct_urls() -> None:
    pages = load_labelled()
    assert len(topic_names()) >= 16
    assert len({p.url for p in pages}) == len(pages)
    for half in ("tune", "heldout"):
        counts = Counter(p.topic for p in load_labelled(half))
        assert set(counts) == set(topic_names()) and min(counts.values()) >= 8


def test_everyday_words_are_shared_across_unrelated_topics() -> None:
    topics_of: dict[str, set[str]] = {}
    for page in load_labelled():
        for word in set(tokens(f"{page.title} {page.text}")):
            topics_of.setdefault(word, set()).add(page.topic)
    shared = [w for w in EVERYDAY if len(topics_of.get(w, set())) >= 3]
    assert len(shared) >= 7, shared


def test_every_topic_has_forum_replies_and_each_half_has_long_guides() -> None:
    for half in ("tune", "heldout"):
        pages = load_labelled(half)
        for topic in topic_names():
            own = [len(p.text.split()) for p in pages if p.topic == topic]
            assert min(own) <= 30, (half, topic)
        guides = [p for p in pages if len(p.text.split()) >= 650]
        assert len(guides) >= 8 and len({p.topic for p in guides}) == len(guides)
        assert all(len(p.text.splitlines()) >= 10 for p in guides)


def test_sessions_are_reproducible_and_within_bounds() -> None:
    first = make_sessions("tune", 40, 3)
    assert first == make_sessions("tune", 40, 3)
    for session in first:
        assert 3 <= len(session.pages) <= 40 and 1 <= len(session.topics) <= 6
        assert {p.half for p in session.pages} == {"tune"}
        counts = Counter(p.topic for p in session.pages)
        assert min(counts.values()) >= 2
        assert len({p.url for p in session.pages}) == len(session.pages)
