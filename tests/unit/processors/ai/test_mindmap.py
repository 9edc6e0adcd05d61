"""Properties of mind-map assembly that the dashboard relies on, whoever proposed the plan."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from processors.ai.base import MindmapPage
from processors.ai.mindmap import (
    BRANCH_LABEL_CHARS,
    PAGE_LABEL_CHARS,
    Branch,
    MapPlan,
    PlanError,
    assemble,
    format_duration,
    merge_pages,
)
from schema.derived import MindmapNode

urls = st.sampled_from([f"https://site{i % 5}.example/p/{i}" for i in range(30)])
pages_st = st.lists(
    st.builds(
        MindmapPage,
        url=urls,
        title=st.text(max_size=120),
        text=st.text(max_size=50),
        dwell_ms=st.integers(-1000, 10**8),
        url_hash=st.text("abcdef0123456789", max_size=8),
    ),
    max_size=25,
)


@st.composite
def pages_and_plan(draw: st.DrawFn) -> tuple[list[MindmapPage], MapPlan]:
    pages = merge_pages(draw(pages_st))
    order = draw(st.permutations(range(len(pages))))
    cuts = sorted(draw(st.sets(st.integers(1, max(len(pages) - 1, 1)), max_size=6)))
    groups = [list(order[a:b]) for a, b in zip([0, *cuts], [*cuts, len(pages)], strict=False)]
    branches = [Branch(label=draw(st.text(max_size=80)), why="w", members=g) for g in groups if g]
    return pages, MapPlan(label=draw(st.text(max_size=90)), why="why", branches=branches)


def _leaves(root: MindmapNode) -> list[MindmapNode]:
    return [leaf for branch in root.children for leaf in branch.children]


@given(pages_and_plan())
def test_every_distinct_page_is_exactly_one_leaf(data: tuple[list[MindmapPage], MapPlan]) -> None:
    pages, plan = data
    root = assemble(pages, plan)
    leaves = _leaves(root)
    assert sorted(leaf.url for leaf in leaves) == sorted(page.url for page in pages)
    assert all(not leaf.children for leaf in leaves)
    hashes = {page.url: page.url_hash for page in pages}
    assert all(leaf.url_hash == hashes[leaf.url] for leaf in leaves)


@given(pages_st)
def test_weights_add_up_to_the_sessions_dwell(raw: list[MindmapPage]) -> None:
    pages = merge_pages(raw)
    plan = MapPlan(
        label="s",
        why="",
        branches=[Branch(label="b", why="", members=list(range(len(pages))))] if pages else [],
    )
    root = assemble(pages, plan)
    assert root.weight_ms == sum(max(page.dwell_ms, 0) for page in raw)
    for branch in root.children:
        assert branch.weight_ms == sum(leaf.weight_ms for leaf in branch.children)


@given(pages_and_plan())
def test_siblings_are_ordered_by_weight_and_labels_are_short(
    data: tuple[list[MindmapPage], MapPlan],
) -> None:
    pages, plan = data
    root = assemble(pages, plan)
    weights = [branch.weight_ms for branch in root.children]
    assert weights == sorted(weights, reverse=True)
    for branch in root.children:
        assert len(branch.label) <= BRANCH_LABEL_CHARS and branch.label
        leaf_weights = [leaf.weight_ms for leaf in branch.children]
        assert leaf_weights == sorted(leaf_weights, reverse=True)
        assert all(0 < len(leaf.label) <= PAGE_LABEL_CHARS for leaf in branch.children)


@given(pages_and_plan())
def test_assembly_is_deterministic(data: tuple[list[MindmapPage], MapPlan]) -> None:
    pages, plan = data
    assert assemble(pages, plan) == assemble(list(pages), plan)


@given(pages_st)
def test_merge_keeps_one_page_per_url_and_all_dwell(raw: list[MindmapPage]) -> None:
    merged = merge_pages(raw)
    assert [p.url for p in merged] == list(dict.fromkeys(p.url for p in raw))
    assert sum(p.dwell_ms for p in merged) == sum(max(p.dwell_ms, 0) for p in raw)


def _three_pages() -> list[MindmapPage]:
    return [
        MindmapPage(url=f"https://a.example/{i}", title=f"P{i}", text="", dwell_ms=1000)
        for i in range(3)
    ]


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([[0, 1]], "in no subtopic"),
        ([[0, 1], [1, 2]], "more than one subtopic"),
        ([[0, 1, 2, 7]], "unknown page 7"),
        ([[0, 1, 2], []], "has no pages"),
    ],
)
def test_plans_that_lose_repeat_or_invent_pages_are_rejected(
    members: list[list[int]], message: str
) -> None:
    plan = MapPlan(
        label="x",
        why="",
        branches=[Branch(label=f"b{i}", why="", members=m) for i, m in enumerate(members)],
    )
    with pytest.raises(PlanError, match=message):
        assemble(_three_pages(), plan)


def test_durations_read_naturally() -> None:
    assert format_duration(45_500) == "45 s"
    assert format_duration(12 * 60_000) == "12 min"
    assert format_duration(65 * 60_000) == "1 h 05 min"
