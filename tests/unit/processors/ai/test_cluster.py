"""Properties of the offline grouping, and a quality floor on real-looking pages."""

from __future__ import annotations

import statistics

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import adjusted_rand_score

from processors.ai.base import MindmapPage
from processors.ai.cluster import choose_groups, group_pages
from processors.ai.local import plan_session
from tests.unit.corpus.mixed import make_sessions

WORDS = [
    "telescope",
    "galaxy",
    "planet",
    "orbit",
    "recipe",
    "flour",
    "oven",
    "dough",
    "goal",
    "league",
    "water",
    "pressure",
]
texts = st.lists(st.sampled_from([*WORDS, "the", "and", "42", "é", "\n"]), max_size=30).map(
    " ".join
)
sessions = st.lists(st.tuples(texts, texts, st.integers(0, 10**7)), min_size=0, max_size=24)


def _dense_in_order(groups: list[int]) -> bool:
    seen: list[int] = []
    for group in groups:
        if group not in seen:
            if group != len(seen):
                return False
            seen.append(group)
    return True


@settings(max_examples=60, deadline=None)
@given(sessions)
def test_groups_are_numbered_densely_in_order_of_first_appearance(
    data: list[tuple[str, str, int]],
) -> None:
    titles = [title for title, _, _ in data]
    groups = group_pages(
        titles, [text for _, text, _ in data], [f"https://s.example/{i}" for i in range(len(data))]
    )
    assert len(groups) == len(data)
    assert _dense_in_order(groups)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.data())
def test_choose_groups_handles_any_similarity_matrix(count: int, data: st.DataObject) -> None:
    raw = np.array(
        data.draw(st.lists(st.floats(0, 1), min_size=count * count, max_size=count * count))
    ).reshape(count, count)
    similarity = (raw + raw.T) / 2
    np.fill_diagonal(similarity, 1.0)
    groups = choose_groups(similarity)
    assert len(groups) == count and _dense_in_order(groups)
    # a page linked to no other page is a group of its own
    for index in range(count):
        if all(similarity[index, j] < 0.03 for j in range(count) if j != index):
            assert groups.count(groups[index]) == 1


def test_disconnected_blocks_become_separate_groups() -> None:
    similarity = np.eye(7)
    for block in ([0, 2, 4], [1, 3], [5, 6]):
        for i in block:
            for j in block:
                similarity[i, j] = 1.0 if i == j else 0.4
    assert choose_groups(similarity) == [0, 1, 0, 1, 0, 2, 2]


@settings(max_examples=40, deadline=None)
@given(sessions)
def test_plans_place_every_page_once_and_are_deterministic(
    data: list[tuple[str, str, int]],
) -> None:
    pages = [
        MindmapPage(url=f"https://s.example/{i}", title=title, text=text, dwell_ms=dwell)
        for i, (title, text, dwell) in enumerate(data)
    ]
    plan = plan_session(pages)
    assert sorted(i for branch in plan.branches for i in branch.members) == list(range(len(pages)))
    assert all(branch.label and branch.why for branch in plan.branches)
    assert all(" & " not in branch.label for branch in plan.branches)
    assert len({branch.label.lower() for branch in plan.branches}) == len(plan.branches)
    assert plan_session(pages) == plan


def test_quality_floor_on_a_fixed_set_of_mixed_sessions() -> None:
    """Twelve fixed sessions of the labelled corpus (both halves): a floor, not the target."""
    scores = []
    for session in make_sessions(None, 12, 4242):
        pages = session.pages
        groups = group_pages(
            [p.title for p in pages], [p.text for p in pages], [p.url for p in pages]
        )
        scores.append(adjusted_rand_score([p.topic for p in pages], groups))
    assert statistics.fmean(scores) >= 0.85
    assert min(scores) >= 0.4
