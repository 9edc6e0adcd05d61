"""What a person notices first in the demo's maps: the session's and the branches' names.

The sessions are the demo's own (``mindhit demo``, titles and active time in
:mod:`.samples`, texts from the demo corpus): the root names the subject that took most
of the time, a short side trip does not name the session, and a weak branch near a
broad subject and one of its narrower ones takes the broad name.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mindhit.corpus import load_pages
from processors.ai import topics
from processors.ai.base import MindmapPage
from processors.ai.local import SECOND_SHARE, plan_session, root_label
from processors.ai.mindmap import MapPlan
from processors.ai.topics import nearest_topic
from processors.ai.wordvectors import load_word_vectors

from .samples import FOOTBALL, NIGHT_SKY, TRIP_PLANNING


def _plan(session: list[tuple[str, int]]) -> tuple[MapPlan, list[str]]:
    text = {p.title: p.text for p in load_pages()}
    pages = [
        MindmapPage(url=f"https://demo.example/{i}", title=title, text=text[title], dwell_ms=ms)
        for i, (title, ms) in enumerate(session)
    ]
    return plan_session(pages, load_word_vectors()), [title for title, _ in session]


def _label_of(plan: MapPlan, titles: list[str], title: str) -> str:
    return next(b.label for b in plan.branches if titles.index(title) in b.members)


def test_a_night_sky_session_is_named_astronomy() -> None:
    plan, titles = _plan(NIGHT_SKY)
    assert _label_of(plan, titles, "Choosing Your First Telescope") == "Astronomy"
    assert plan.label == "Astronomy"


def test_a_football_session_is_not_named_after_its_cooking_side_trip() -> None:
    plan, _ = _plan(FOOTBALL)
    assert plan.label == plan.branches[0].label
    assert "pizza" not in plan.label.lower()


def test_two_budget_and_retirement_pages_are_personal_finance() -> None:
    plan, titles = _plan(TRIP_PLANNING)
    finance = _label_of(plan, titles, "401(k) vs IRA: Which Retirement Account?")
    assert finance == _label_of(plan, titles, "How to Budget Money: The 50/30/20 Rule")
    assert finance == "Personal finance"
    assert plan.label == "Hiking and personal finance"  # 36 % of the time: substantial


@given(
    st.lists(st.sampled_from(["Astronomy", "Green chicken curry", "Football"]), min_size=2),
    st.floats(0, 1),
)
def test_the_root_names_a_second_branch_only_when_it_took_a_substantial_share(
    labels: list[str], second: float
) -> None:
    shares = [1 - second, second] + [0.0] * (len(labels) - 2)
    root = root_label(labels, set(), shares)
    assert root.startswith(labels[0])
    assert (" and " in root) == (second >= SECOND_SHARE)


def test_without_shares_the_root_names_two_branches() -> None:
    assert root_label(["Astronomy", "Cooking"]) == "Astronomy and cooking"
    assert root_label(["Astronomy", "Cooking"], set(), [0.9, 0.1]) == "Astronomy"


def _lookup(word: str) -> np.ndarray | None:
    axes = {"finance": 0, "tax": 1, "hike": 2, "cook": 3}
    return np.eye(4)[axes[word]] if word in axes else None


@pytest.fixture
def four_subjects(monkeypatch: pytest.MonkeyPatch) -> None:
    subjects = ("Personal finance: finance", "Taxes: tax", "Hiking: hike", "Cooking: cook")
    monkeypatch.setattr(topics, "TOPICS", subjects)


@pytest.mark.usefixtures("four_subjects")
def test_a_group_between_a_broad_subject_and_its_narrower_one_takes_the_broad_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Personal finance 0.577, Taxes 0.531: nearer, not by TOPIC_MARGIN.
    assert nearest_topic({"finance": 1.0, "tax": 0.96}, _lookup) == "Personal finance"
    # The narrower one nearest: no name (which narrow subject is it?).
    assert nearest_topic({"finance": 0.96, "tax": 1.0}, _lookup) is None
    # Two subjects of no one family as near: no name either.
    monkeypatch.setattr(topics, "BROADER", {})
    assert nearest_topic({"finance": 1.0, "tax": 0.96}, _lookup) is None
