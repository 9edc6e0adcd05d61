"""Properties of the split of groups without a core word, and its case on the corpus."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from processors.ai.cluster import group_pages
from processors.ai.features import rarity
from processors.ai.split import (
    MIN_SPLIT_PAGES,
    core_word_score,
    fiedler_cut,
    split_coreless_groups,
)
from processors.ai.wordvectors import load_word_vectors
from tests.unit.corpus.mixed import make_sessions
from tests.unit.processors.ai.strategies import similarity_of

WORDS = ["telescope", "galaxy", "orbit", "recipe", "flour", "oven", "water", "plan"]
bags = st.dictionaries(st.sampled_from(WORDS), st.floats(0.5, 3.0), max_size=5)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 14), st.floats(0.0, 2.5), st.data())
def test_the_split_only_cuts_groups_without_a_core_word_and_only_inside_them(
    count: int, threshold: float, data: st.DataObject
) -> None:
    similarity = similarity_of(data, count)
    pages = data.draw(st.lists(bags, min_size=count, max_size=count))
    labels = data.draw(st.lists(st.integers(0, 3), min_size=count, max_size=count))
    split = split_coreless_groups(similarity, pages, labels, threshold, 0.03)
    assert len(split) == count
    for label in set(labels):
        members = [i for i in range(count) if labels[i] == label]
        parts = {split[i] for i in members}
        kept = len(members) < MIN_SPLIT_PAGES or core_word_score(pages, members) >= threshold
        assert len(parts) == 1 if kept else len(parts) <= 2
        assert all(split[i] not in parts for i in range(count) if labels[i] != label)
        if len(parts) == 2:
            assert all(sum(split[i] == p for i in members) >= 2 for p in parts)


@settings(max_examples=60, deadline=None)
@given(st.lists(bags, min_size=1, max_size=8))
def test_the_core_word_score_is_the_best_share_times_rarity(pages: list[dict[str, float]]) -> None:
    members = list(range(len(pages)))
    score = core_word_score(pages, members)
    for word in WORDS:
        share = sum(word in page for page in pages) / len(pages)
        assert score >= share * rarity(word) - 1e-12
    assert score == 0.0 or any(
        np.isclose(score, sum(w in p for p in pages) / len(pages) * rarity(w)) for w in WORDS
    )


def test_two_subjects_without_a_shared_word_are_cut_apart_and_one_subject_is_not() -> None:
    similarity = np.full((8, 8), 0.05)
    for block in ([0, 2, 4, 6], [1, 3, 5, 7]):
        similarity[np.ix_(block, block)] = 0.3
    np.fill_diagonal(similarity, 1.0)
    two = [{"water": 3.0}, {"plan": 3.0}] * 4  # everyday words, each on half the pages
    one = [{"telescope": 3.0, "galaxy": 1.0}, {"telescope": 3.0, "flour": 1.0}] * 4
    assert fiedler_cut(similarity, list(range(8)), 0.03) == ([0, 2, 4, 6], [1, 3, 5, 7])
    assert split_coreless_groups(similarity, two, [0] * 8, 0.4, 0.03) == [0, 1] * 4
    assert split_coreless_groups(similarity, one, [0] * 8, 0.4, 0.03) == [0] * 8


def test_the_benchs_cycling_and_marathon_branch_is_cut_into_its_two_topics() -> None:
    """The tuning half's bench session #58 (tennis 7, cycling 7, marathon 6): the eigengap
    and the merge see cycling and marathon as one branch (ARI 0.565); no word is on most
    of its pages ("training" on half), so the split makes it the three topics."""
    pages = make_sessions("tune", 60, 7)[58].pages
    columns = ([p.title for p in pages], [p.text for p in pages], [p.url for p in pages])
    groups = group_pages(*columns, lookup=load_word_vectors())
    assert adjusted_rand_score([p.topic for p in pages], groups) == 1.0


def test_one_topic_sessions_of_the_bench_stay_one_branch() -> None:
    """The bench's one-topic sessions whose halves look furthest apart (vegetable garden)."""
    lookup = load_word_vectors()
    sessions = make_sessions("tune", 60, 7)
    for index in (9, 23):
        pages = sessions[index].pages
        assert len({p.topic for p in pages}) == 1
        columns = ([p.title for p in pages], [p.text for p in pages], [p.url for p in pages])
        assert len(set(group_pages(*columns, lookup=lookup))) == 1
