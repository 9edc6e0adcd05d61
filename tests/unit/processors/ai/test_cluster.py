"""Properties of the grouping behind the offline mind map, for any page texts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from processors.ai.base import MindmapPage
from processors.ai.cluster import MAX_GROUPS, group_pages
from processors.ai.local import plan_session

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
    "striker",
    "budget",
]
texts = st.lists(st.sampled_from([*WORDS, "the", "and", "42", "é"]), max_size=30).map(" ".join)
sessions = st.lists(st.tuples(texts, st.integers(0, 10**7)), min_size=0, max_size=24)


@settings(max_examples=60, deadline=None)
@given(sessions)
def test_groups_are_numbered_densely_in_order_of_first_appearance(
    data: list[tuple[str, int]],
) -> None:
    groups = group_pages([text for text, _ in data], [dwell for _, dwell in data])
    assert len(groups) == len(data)
    seen: list[int] = []
    for group in groups:
        if group not in seen:
            assert group == len(seen)
            seen.append(group)
    assert len(seen) <= MAX_GROUPS


@settings(max_examples=40, deadline=None)
@given(sessions)
def test_plans_place_every_page_once_and_are_deterministic(data: list[tuple[str, int]]) -> None:
    pages = [
        MindmapPage(url=f"https://s.example/{i}", title=text[:20], text=text, dwell_ms=dwell)
        for i, (text, dwell) in enumerate(data)
    ]
    plan = plan_session(pages)
    assert sorted(i for branch in plan.branches for i in branch.members) == list(range(len(pages)))
    assert all(branch.label and branch.why for branch in plan.branches)
    assert plan_session(pages) == plan


def test_pages_on_clearly_different_subjects_are_apart() -> None:
    sky = [
        "telescope galaxy planet orbit star",
        "planet orbit star telescope moon",
        "galaxy star moon orbit",
    ]
    food = ["recipe flour oven dough bake", "dough oven bake bread flour", "recipe bake bread oven"]
    groups = group_pages(sky + food, [60_000] * 6)
    assert len(set(groups[:3])) == 1 and len(set(groups[3:])) == 1 and groups[0] != groups[3]
