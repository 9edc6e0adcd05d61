"""A page's subject as a branch summary lists it: the noun phrase that names the page.

Why: the labeller's strongest phrase for a page among its branch's pages
(:mod:`processors.ai.labels`) is the rarest run of its title, and that can be a verb
("Choosing" for "Choosing Your First Telescope", "Dice" for "How to Dice an Onion"), a
fragment ("chewy chocolate chip" of "Chewy Chocolate Chip Cookies", "compound" of
"Compound Interest Explained": "interest" is on the stop list, so never a candidate) or
a side phrase ("day itinerary" for "Iceland Ring Road: A Ten Day Itinerary"). A person
names the page with the noun phrase its title holds. So the candidates are taken in the
labeller's order and each is, in turn:

1. extended to the title's noun phrase: to the right while the title's run of content
   words goes on to a noun (stop words that name things count as content words,
   :data:`processors.ai.wordroles.NOUN_STOP_WORDS`), up to a verb, adverb or time
   word; to the left over "first", "last"… ("first telescope") and over a name the
   text writes capitalized with it ("Champions League");
2. replaced by the title's run of two or more words that the URL's slug names word for
   word (:func:`processors.ai.pagetopic.slug_runs`) when the phrase is not in the slug
   ("Iceland Ring Road" on ``…/iceland-ring-road-itinerary``);
3. skipped when its last word is one the page's text uses mostly as a verb (or its
   title after "how to"), a time or measure word, or only in front of one same word
   (:mod:`processors.ai.wordroles`); the first candidate stays when all are.

Names keep the capitals the title gives them when the text writes the pair capitalized
inside a sentence ("Premier League title race"). Pure and deterministic.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import NamedTuple

from processors.ai.features import headings, main_title
from processors.ai.pagetopic import slug_runs
from processors.ai.text import GENERIC_WORDS, STOP_WORDS, content_runs
from processors.ai.wordroles import (
    NOUN_STOP_WORDS,
    inside_sentence,
    modifiers,
    stem_cached,
    title_verbs,
    uses,
    weak_head,
    words_of,
)

__all__ = ["CANDIDATES", "LEAD_CHARS", "MAX_WORDS", "PageCues", "choose_subject", "page_cues"]

_LEFT_ONLY = frozenset({"first", "last", "third", "whole", "full"})
"""Of those, the ones that only stand in front of a noun."""

CANDIDATES = 4
"""How many of the labeller's phrases for a page are tried before the first is kept."""
MAX_WORDS = 5
"""A subject is extended to at most this many words."""
LEAD_CHARS = 1500
"""How much of a page's text its cues are read from (about 400 words: a long guide's
lead says how it uses its title's words, and reading it all would cost a map 20 ms)."""

_WORD = re.compile(r"[^\W\d_][\w'’-]*[^\W_]|[^\W\d_]", re.UNICODE)


class PageCues(NamedTuple):
    """What choosing a page's subject reads of it (see :func:`page_cues`)."""

    runs: list[list[str]]
    verbs: set[str]
    modifiers: set[str]
    slug: set[str]
    names: set[tuple[str, str]]
    lower: set[str]


def page_cues(title: str, text: str, url: str) -> PageCues:
    """The page's title runs, weak last words, slug words and capitalized word pairs.

    Only the words of the title and headings (where subjects come from) are looked up.
    """
    asked_words = _WORD.findall(f"{title} {' '.join(headings(text))}")
    only = {
        stem_cached(w.lower())
        for w in asked_words
        if len(w) > 2 and (w.lower() not in STOP_WORDS or w.lower() in NOUN_STOP_WORDS)
    }
    title = main_title(title)
    text = text[:LEAD_CHARS]
    verbs = uses(text, compounds=True, only=only).verbs | title_verbs(title)
    slug = {stem_cached(w) for run in slug_runs(url) for w in run}
    spelled = _WORD.findall(title)
    pairs = {
        (first, second)
        for first, second in itertools.pairwise(spelled)
        if first[:1].isupper() and second[:1].isupper()
    }
    asked = {w.lower() for w in spelled}
    words = words_of(text)
    lower = words.lower
    names: set[tuple[str, str]] = set()
    written: set[tuple[str, str]] = set()
    lower_words: set[str] = set()
    for i, word in enumerate(lower[:-1]):
        if word not in asked:
            continue
        found = words.raw[i]
        after = words.raw[i + 1] if i + 1 < len(words.raw) else ""
        if found.islower():
            lower_words.add(word)
            if after.islower():
                written.add((word, lower[i + 1]))
        elif i and (found, after) in pairs and inside_sentence(words.seps[i]):
            names.add((word, lower[i + 1]))
    names -= written
    return PageCues(
        runs=content_runs(title, keep=NOUN_STOP_WORDS),
        verbs=verbs,
        modifiers=modifiers(text, only),
        slug=slug,
        names=names,
        lower=lower_words,
    )


def _key(word: str) -> str:
    return stem_cached(word.lower())


def _breaks(key: str, cues: PageCues) -> bool:
    """A verb, adverb, time word or generic word: a noun phrase does not go on past it."""
    return key in GENERIC_WORDS or key in _LEFT_ONLY or weak_head((key,), cues.verbs, set())


def _weak(key: str, cues: PageCues) -> bool:
    return key in cues.modifiers or weak_head((key,), cues.verbs, set())


def _noun(word: str, cues: PageCues) -> bool:
    key = _key(word)
    return key not in GENERIC_WORDS and not _weak(key, cues) and key not in _LEFT_ONLY


def _extend(words: list[str], cues: PageCues) -> list[str]:
    """``words`` grown to the title's noun phrase holding them (module doc, step 1)."""
    keys = [_key(w) for w in words]
    for run in cues.runs:
        run_keys = [_key(w) for w in run]
        for start in range(len(run) - len(keys) + 1):
            if run_keys[start : start + len(keys)] != keys:
                continue
            end = start + len(keys)
            for stop in range(end + 1, min(len(run), start + MAX_WORDS) + 1):
                if _breaks(_key(run[stop - 1]), cues):
                    break
                if _noun(run[stop - 1], cues):
                    end = stop
            while (
                start > 0
                and end - start < MAX_WORDS
                and (
                    run[start - 1].lower() in _LEFT_ONLY
                    or (run[start - 1].lower(), run[start].lower()) in cues.names
                )
            ):
                start -= 1
            return run[start:end]
    return words


def _slug_phrase(cues: PageCues) -> list[str] | None:
    """The title's longest run of 2+ words the slug names word for word, ending in a noun."""
    found = [
        run
        for run in cues.runs
        if len(run) >= 2
        and all(_key(w) in cues.slug for w in run)
        and _noun(run[-1], cues)
        and len(run) <= MAX_WORDS
    ]
    return max(found, key=len) if found else None


def choose_subject(candidates: Iterable[str], cues: PageCues) -> tuple[str, set[str]]:
    """The page's subject from the labeller's phrases, best first (module doc).

    Returns:
        The phrase as the title writes it (``""`` without candidates) and the words in it
        that keep their capitals (names the text writes capitalized as a pair).
    """
    slug_phrase = _slug_phrase(cues)
    first: list[str] | None = None
    for candidate in itertools.islice(candidates, CANDIDATES):
        phrase = _extend(candidate.split(), cues)
        if slug_phrase and not all(_key(w) in cues.slug for w in phrase):
            phrase = slug_phrase
        first = phrase if first is None else first
        if not _weak(_key(phrase[-1]), cues):
            return _named(phrase, cues)
    return _named(first or [], cues)


def _named(phrase: list[str], cues: PageCues) -> tuple[str, set[str]]:
    """The phrase and its name words: pairs the text writes capitalized inside sentences,
    grown to the left by capitalized words the text never writes in lower case ("Iceland"
    of "Iceland Ring Road")."""
    keep = [(a.lower(), b.lower()) in cues.names for a, b in itertools.pairwise(phrase)]
    kept = [any(keep[max(0, i - 1) : i + 1]) for i in range(len(phrase))]
    for i in range(len(phrase) - 2, -1, -1):
        if kept[i + 1] and phrase[i][:1].isupper() and phrase[i].lower() not in cues.lower:
            kept[i] = True
    return " ".join(phrase), {w for w, k in zip(phrase, kept, strict=True) if k}
