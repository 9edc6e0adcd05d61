"""A branch summary lists each page by the noun phrase that names it, as a person would.

The demo's branches (``mindhit demo``'s corpus; texts, titles and URLs as the provider
reads them) read "…, black hole, choosing and 2 more pages.", "…, compound and 2 more
pages.", "…, chewy chocolate chip and creamy risotto.", "Penalty kick, Premier league
title, …" and "Topographic map, day itinerary, …": a verb, cut-off phrases, a name
lower-cased and a side phrase.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from mindhit.corpus import CorpusPage, load_pages
from processors.ai.labels import LabelPage, name_groups
from processors.ai.subjects import MAX_WORDS, choose_subject, page_cues
from processors.ai.text import content_runs
from processors.ai.wordroles import NOUN_STOP_WORDS


def _summary(fragments: list[str]) -> str:
    """The summary of a branch of the demo pages whose titles hold ``fragments``, most
    attended first."""
    pages: list[CorpusPage] = [
        next(p for p in load_pages() if fragment in p.title) for fragment in fragments
    ]
    label_pages = [
        LabelPage(title=p.title, text=p.text, dwell_ms=600_000 - 60_000 * i, url=p.url)
        for i, p in enumerate(pages)
    ]
    (names,) = name_groups(label_pages, [0] * len(pages))
    return names.summary


def _listed(summary: str) -> list[str]:
    body = re.sub(r" and \d+ more pages?\.$", "", summary).removesuffix(".")
    items = body.split(", ")
    items[-1:] = items[-1].rsplit(" and ", 1)
    return items


def test_a_page_titled_with_a_verb_is_listed_by_its_noun_phrase() -> None:
    summary = _summary(["Meteor Showers", "Black Hole", "Choosing Your First", "Moon", "Jupiter"])
    assert "first telescope" in _listed(summary), summary
    assert "choosing" not in summary.lower(), summary


def test_a_phrase_whose_noun_is_a_stop_word_is_listed_whole() -> None:
    summary = _summary(["Budget Money", "Emergency Fund", "Compound Interest", "Index", "Credit"])
    assert "compound interest" in _listed(summary), summary


def test_a_phrase_cut_before_its_noun_is_listed_whole() -> None:
    summary = _summary(["Neapolitan", "Roast Chicken", "Chewy Chocolate", "Risotto"])
    assert "chewy chocolate chip cookies" in _listed(summary), summary


def test_a_name_keeps_the_capitals_the_title_and_text_give_it() -> None:
    summary = _summary(["Penalty Kick", "Premier League", "Transfer Window", "Offside", "FIFA"])
    assert "Premier League" in summary, summary


def test_the_slug_names_the_page_over_a_side_phrase_and_a_verb_is_skipped() -> None:
    summary = _summary(["Topographic", "Iceland", "Knife Skills", "Half Dome"])
    listed = _listed(summary)
    assert "Iceland Ring Road" in listed, summary
    assert "day itinerary" not in listed and "dice" not in summary.lower(), summary


_WORDS = st.sampled_from(
    (
        *("Choosing", "Your", "First", "Telescope", "Compound", "Interest", "Explained"),
        *("How", "to", "Dice", "an", "Onion", "Premier", "League", "Title", "Race", ":", "the"),
    )
)


@given(
    st.lists(_WORDS, min_size=1, max_size=9).map(" ".join),
    st.lists(st.lists(_WORDS, min_size=1, max_size=3).map(" ".join), max_size=5),
    st.sampled_from(["", "https://x.example/choosing-a-telescope", "https://x.example/a-b"]),
)
def test_a_subject_is_a_candidate_or_a_run_of_the_title_and_stable(
    title: str, candidates: list[str], url: str
) -> None:
    text = "The Premier League title race. You dice the onion. Compound interest grows."
    cues = page_cues(title, text, url)
    phrase, names = choose_subject(iter(candidates), cues)
    assert (phrase, names) == choose_subject(candidates, page_cues(title, text, url))
    if not candidates:
        assert phrase == ""
        return
    runs = [
        " ".join(run[i:j])
        for run in content_runs(title, keep=NOUN_STOP_WORDS)
        for i in range(len(run))
        for j in range(i + 1, len(run) + 1)
    ]
    assert phrase in candidates or phrase in runs
    assert len(phrase.split()) <= max(MAX_WORDS, *(len(c.split()) for c in candidates))
    assert names <= set(phrase.split())
