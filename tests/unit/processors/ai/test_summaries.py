"""A branch's summary says what its group of pages covers, not one page's detail."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mindhit.corpus import CorpusPage, load_pages
from processors.ai.features import main_title
from processors.ai.labels import LabelPage, name_groups
from processors.ai.summaries import SUMMARY_CHARS, subject_list
from processors.ai.text import GENERIC_WORDS, split_sentences, tokens

# The demo's branches whose summary read as one page's detail ("Chill the dough for at
# least an hour so the cookies spread less…", "The W Trek in Torres del Paine…"), most
# attended first, each beside a page of another subject that stands alone.
COOKING = ["Sourdough", "Risotto", "Neapolitan", "Bourguignon", "Roast Chicken", "Chocolate"]
HIKING = ["Topographic", "Iceland", "Half Dome", "Mont Blanc", "W Trek", "Day Hiking"]


def _demo(fragments: list[str]) -> list[CorpusPage]:
    return [next(p for p in load_pages() if fragment in p.title) for fragment in fragments]


def _label_pages(pages: list[CorpusPage]) -> list[LabelPage]:
    return [
        LabelPage(title=p.title, text=p.text, dwell_ms=600_000 - 60_000 * i)
        for i, p in enumerate(pages)
    ]


def _named(summary: str, pages: list[CorpusPage]) -> list[bool]:
    """For each page: whether the summary uses a word of its own title."""
    said = set(tokens(summary))
    return [bool(set(tokens(main_title(p.title))) - GENERIC_WORDS & said) for p in pages]


def _sentences(pages: list[CorpusPage]) -> set[str]:
    return {sentence for page in pages for sentence in split_sentences(page.text)}


@pytest.mark.parametrize(("fragments", "alone"), [(COOKING, "Jupiter"), (HIKING, "Index Fund")])
def test_a_branch_of_several_pages_is_summarized_by_the_subjects_of_its_pages(
    fragments: list[str], alone: str
) -> None:
    branch = _demo(fragments)
    lone = _demo([alone])
    names = name_groups(_label_pages(branch + lone), [0] * len(branch) + [1])
    summary = names[0].summary
    # It names the three most attended pages and counts the others.
    assert _named(summary, branch)[:3] == [True, True, True], summary
    assert summary.endswith(" and 3 more pages."), summary
    assert summary not in _sentences(branch)
    # A page alone keeps its own best sentence.
    assert names[1].summary in _sentences(lone)


def test_the_cooking_branch_reads_as_its_recipes() -> None:
    (names,) = name_groups(_label_pages(_demo(COOKING)), [0] * len(COOKING))
    assert names.summary.startswith("Sourdough starter, creamy risotto, ")
    assert "cookies spread less" not in names.summary


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_a_branch_summary_is_short_stable_and_about_the_group(data: st.DataObject) -> None:
    topic = data.draw(st.sampled_from(sorted({p.topic for p in load_pages()})))
    pool = [p for p in load_pages() if p.topic == topic]
    pages = data.draw(st.lists(st.sampled_from(pool), min_size=3, max_size=8, unique=True))
    label_pages = _label_pages(pages)
    (names,) = name_groups(label_pages, [0] * len(pages))
    assert names.summary.strip() and len(names.summary) <= SUMMARY_CHARS
    assert names.summary == name_groups(label_pages, [0] * len(pages))[0].summary
    assert names.summary not in _sentences(pages)
    assert sum(_named(names.summary, pages)) >= 2


_SUBJECT = st.lists(
    st.text(string.ascii_letters, min_size=1, max_size=14), min_size=1, max_size=4
).map(" ".join)


@given(st.lists(st.none() | _SUBJECT, max_size=12), st.integers(0, 30))
def test_a_subject_list_names_the_first_subjects_and_counts_every_page(
    subjects: list[str | None], more: int
) -> None:
    pages = len(subjects) + more
    listed = subject_list(iter(subjects), pages)
    distinct: list[str] = []
    for subject in subjects:
        if subject and subject.lower() not in {s.lower() for s in distinct}:
            distinct.append(subject)
    if len(distinct) < 2:
        assert listed is None
        return
    assert listed is not None and len(listed) <= SUMMARY_CHARS
    assert listed == subject_list(subjects, pages)
    assert listed.startswith(distinct[0][:1].upper() + distinct[0][1:])
    counted = re.search(r" and (\d+) more pages?\.$", listed)
    named = listed.count(", ") + (1 if counted else 2)
    assert 2 <= named <= 4
    assert named + (int(counted.group(1)) if counted else 0) == pages
