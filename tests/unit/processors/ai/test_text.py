"""Keyword, tag, summary and label helpers of the offline provider."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mindhit.corpus import load_pages
from processors.ai.text import choose_tags, keywords, short_label, split_sentences, stem, summarize


@given(st.text(), st.integers(1, 200))
def test_short_labels_never_exceed_their_limit(text: str, limit: int) -> None:
    label = short_label(text, limit)
    assert len(label) <= limit
    assert "\n" not in label and "  " not in label


@given(st.lists(st.text(max_size=30), max_size=40), st.lists(st.text(max_size=15), max_size=10))
def test_tags_are_distinct_and_at_most_seven(candidates: list[str], fill: list[str]) -> None:
    tags = choose_tags(candidates, fill=fill)
    assert len(tags) <= 7
    assert len({tuple(stem(w) for w in tag.split()) for tag in tags}) == len(tags)
    assert all(tag == tag.lower() and tag.strip() == tag for tag in tags)


def test_tags_drop_generic_words_and_words_covered_by_a_phrase() -> None:
    tags = choose_tags(
        ["Pizza Dough", "Make", "pizza", "Dough", "guide", "the", "yeast", "Yeast", "ovens", "oven"]
    )
    assert tags == ["pizza dough", "yeast", "ovens"]


def test_summary_keeps_whole_sentences_in_their_order() -> None:
    text = (
        "Black holes bend light. Lunch was nice today. A black hole forms when a massive star "
        "collapses. The event horizon of a black hole lets no light escape."
    )
    summary = summarize(text, "What is a black hole?")
    sentences = split_sentences(text)
    kept = split_sentences(summary)
    assert len(kept) == 2 and all(s in sentences for s in kept)
    assert [sentences.index(s) for s in kept] == sorted(sentences.index(s) for s in kept)
    assert "Lunch" not in summary


def test_every_corpus_page_yields_telling_keywords() -> None:
    for page in load_pages():
        found = keywords(page.text, page.title)
        assert len(found) >= 3, page.url
        title = page.title.lower()
        assert any(word in title for phrase in found[:4] for word in phrase.split()), (
            page.url,
            found,
        )
