"""A mind-map branch's one-sentence summary: what its group of pages covers.

Why this shape: a branch of several pages is a group, and a person reading the map's
side panel expects its summary to say what the group covers. The single sentence of its
pages that best covers the group's words is one page's detail
("Chill the dough for at least an hour so the cookies spread less" for six recipes), so
a branch of :data:`LIST_PAGES` pages or more is summarized by its pages' own subjects
(the noun phrase that would name each page alone, found by :mod:`processors.ai.labels`
and :mod:`processors.ai.subjects`),
most attended first: "Sourdough starter, creamy risotto, neapolitan pizza dough and 3
more pages." A smaller branch, or one whose pages do not give two distinct subjects,
keeps the sentence: one page's best sentence is that page's summary. All functions are
pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from processors.ai.features import headings, rarity
from processors.ai.text import content_runs, short_label, split_sentences, stem

__all__ = ["LIST_PAGES", "NAMED", "SUMMARY_CHARS", "best_sentence", "subject_list"]

SUMMARY_CHARS = 220
"""Longest summary; a longer sentence is cut on a word boundary."""
LIST_PAGES = 3
"""A branch of this many pages or more is summarized by its pages' subjects."""
NAMED = 3
"""A list names this many subjects and counts the rest ("and 3 more pages"); one more
page is named rather than counted ("A, B, C and D")."""


def best_sentence(texts: Sequence[str], words: set[str], fallback: str) -> str:
    """The sentence of ``texts`` (most attended page first) that best covers ``words``.

    A sentence scores by the rarity of the group's words (stems) it uses, against its own
    length; headings are not prose; ties go to the earlier page. ``fallback`` (the main
    page's title) when no text has a sentence of 30 characters or more.
    """
    best: tuple[float, int, str] | None = None
    for order, text in enumerate(texts):
        heads = set(headings(text))
        prose = " ".join(line for line in text.splitlines() if line not in heads)
        for sentence in split_sentences(prose):
            if not 30 <= len(sentence) <= 2 * SUMMARY_CHARS:
                continue
            stems = {stem(w.lower()) for run in content_runs(sentence) for w in run}
            score = sum(rarity(w) for w in stems & words) / (len(stems) ** 0.5 + 1.0)
            if best is None or (score, -order) > (best[0], -best[1]):
                best = (score, order, sentence)
    return short_label(fallback if best is None else best[2], SUMMARY_CHARS)


def subject_list(subjects: Iterable[str | None], pages: int) -> str | None:
    """``"Sourdough starter, Neapolitan pizza dough and 3 more pages."``: a branch's pages.

    ``subjects`` holds one entry per page, most attended first (``None``: the page has
    none), each as it reads inside a sentence (lower case but for names and acronyms);
    it is read lazily, only as far as the list names. A subject already named is not
    repeated (its page counts among the others). ``None`` when fewer than two distinct
    subjects are found. Subjects are dropped from the end rather than pass
    :data:`SUMMARY_CHARS`.
    """
    named: list[str] = []
    # A fourth subject is named only when it is the last page: else it is not read.
    limit = NAMED + 1 if pages <= NAMED + 1 else NAMED
    for subject in subjects:
        if len(named) >= limit:
            break
        if subject and subject.lower() not in {s.lower() for s in named}:
            named.append(subject)
    if len(named) < 2:
        return None
    if len(named) < pages:
        named = named[:NAMED]
    while True:
        rest = pages - len(named)
        items = [named[0][:1].upper() + named[0][1:], *named[1:]]
        tail = f"{rest} more page{'s' if rest != 1 else ''}" if rest else items.pop()
        text = f"{', '.join(items)} and {tail}."
        if len(text) <= SUMMARY_CHARS or len(named) <= 2:
            return short_label(text, SUMMARY_CHARS)
        named.pop()
