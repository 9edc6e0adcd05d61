"""Naming a group whose title phrases are weak after the everyday subject nearest its words."""

from __future__ import annotations

import numpy as np
import pytest

from mindhit.corpus import load_pages
from processors.ai import labels
from processors.ai.base import MindmapPage
from processors.ai.labels import LabelPage, name_groups
from processors.ai.local import plan_session
from processors.ai.mindmap import merge_pages
from processors.ai.topics import TOPICS, nearest_topic
from processors.ai.wordvectors import load_word_vectors

from .samples import ESPRESSO_AND_CHESS

# Groups of the demo corpus whose best title phrase is weak (the demo once named them
# "World", "Fund", "Trail" and "Neapolitan pizza dough").
DEMO_GROUPS = {
    "Football": [
        "FIFA World Cup History",
        "How the Football Transfer Window Works",
        "How to Take the Perfect Penalty Kick",
        "Premier League Title Race: Who Will Win?",
        "Tactics Explained: Gegenpressing",
        "The Best Young Footballers in the World",
        "The Offside Rule Explained",
    ],
    "Personal finance": [
        "401(k) vs IRA: Which Retirement Account?",
        "Asset Allocation Basics",
        "Fixed or Variable Rate Mortgage?",
        "How Much Should Be in Your Emergency Fund?",
        "How to Budget Money: The 50/30/20 Rule",
        "How to Pay Off Credit Card Debt",
        "Index Fund: What It Is and How It Works",
    ],
    "Hiking": [
        "Blister Prevention on the Trail",
        "Half Dome Trail via the Mist Trail",
        "Hiking the W Trek in Torres del Paine",
        "How to Read a Topographic Map",
        "Iceland Ring Road: A Ten Day Itinerary",
        "Tour du Mont Blanc: A Hiker's Guide",
    ],
    "Cooking": [
        "Chewy Chocolate Chip Cookies",
        "How to Cook a Creamy Risotto",
        "How to Make Neapolitan Pizza Dough at Home",
        "Knife Skills: How to Dice an Onion",
        "The Food Lab: Perfect Roast Chicken",
    ],
}


def _demo(groups: dict[str, list[str]]) -> tuple[list[LabelPage], list[int]]:
    text = {p.title: p.text for p in load_pages()}
    pages, numbers = [], []
    for number, titles in enumerate(groups.values()):
        for title in titles:
            pages.append(LabelPage(title=title, text=text[title], dwell_ms=60_000))
            numbers.append(number)
    return pages, numbers


def test_weak_demo_groups_are_named_after_their_subject() -> None:
    pages, numbers = _demo(DEMO_GROUPS)
    named = name_groups(pages, numbers, lookup=load_word_vectors())
    assert [n.label for n in named] == list(DEMO_GROUPS)


def test_without_word_vectors_the_title_phrases_stay() -> None:
    pages, numbers = _demo(DEMO_GROUPS)
    labels = [n.label for n in name_groups(pages, numbers)]
    assert labels == ["World", "Fund", "Trail", "Neapolitan pizza dough"]


def test_the_demo_session_reads_as_a_person_would_name_it() -> None:
    pages = merge_pages(
        [MindmapPage(url=p.url, title=p.title, text=p.text, dwell_ms=60_000) for p in load_pages()]
    )
    plan = plan_session(pages, load_word_vectors())
    labels = sorted(b.label for b in plan.branches)
    assert labels == ["Astronomy", "Cooking", "Football", "Hiking", "Personal finance", "Python"]


def test_a_strong_title_phrase_keeps_its_name() -> None:
    pages = [LabelPage(title=t, text=f"{t}. More about it.") for t in ESPRESSO_AND_CHESS]
    named = name_groups(pages, [0, 0, 0, 1, 1, 1], lookup=load_word_vectors())
    assert [n.label for n in named] == ["Espresso", "Chess opening"]


def test_two_groups_never_share_a_subject_name(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever subject is nearest, the second weak group to reach it keeps its phrase.
    monkeypatch.setattr(labels, "nearest_topic", lambda weights, lookup: "Football")
    pages, numbers = _demo(DEMO_GROUPS)
    named = name_groups(pages, numbers, lookup=load_word_vectors())
    assert [n.label for n in named] == ["Football", "Fund", "Trail", "Neapolitan pizza dough"]


def test_every_subject_has_a_vector_and_a_sentence_case_name() -> None:
    lookup = load_word_vectors()
    assert lookup is not None
    names = [entry.partition(":")[0] for entry in TOPICS]
    assert len(set(names)) == len(names) <= 300
    for entry in TOPICS:
        name, _, anchors = entry.partition(":")
        assert name in ("Formula One",) or name == name[:1].upper() + name[1:].lower(), name
        assert all(lookup(word) is not None for word in anchors.split()), entry


def test_no_subject_is_chosen_without_words_or_when_two_are_as_near() -> None:
    lookup = load_word_vectors()
    assert lookup is not None
    assert nearest_topic({}, lookup) is None
    assert nearest_topic({"zzzqqq": 1.0}, lookup) is None
    assert nearest_topic({"football": 1.0, "soccer": 1.0}, lookup) == "Football"
    assert nearest_topic({"football": 1.0, "astronomy": 1.0}, lookup) is None
    assert nearest_topic({"a": 1.0}, lambda word: np.zeros(3)) is None
