"""How a page's text uses a word: as a noun, as a verb, or only in front of another word.

Why: a phrase that names a page ends in a noun ("penalty kick", "first telescope"), not
in a verb ("Choosing", "Dice"), a time or measure word ("January") or a word the page
only ever writes in front of another ("compound" of "compound interest"). The cues are
the words around each use (:func:`uses`) and where it stands in its run of content
words (:func:`modifiers`). The page topics
(:mod:`processors.ai.pagetopic`) and the mind map's page subjects
(:mod:`processors.ai.subjects`) read them, and ``bench/mindmap_summaries.py`` judges
subjects with them. Pure and deterministic; the cues are English words.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from typing import NamedTuple

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from processors.ai.text import content_runs, stem

__all__ = [
    "NOUN_STOP_WORDS",
    "WEAK_HEADS",
    "Key",
    "Uses",
    "modifiers",
    "stem_cached",
    "title_verbs",
    "uses",
    "weak_head",
]

WEAK_HEADS: frozenset[str] = frozenset(
    {
        *("january", "february", "march", "april", "june", "july", "august", "september"),
        *("october", "november", "december", "monday", "tuesday", "wednesday", "thursday"),
        *("friday", "saturday", "sunday", "today", "tomorrow", "yesterday", "tonight"),
        *("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
        *("eleven", "twelve", "twenty", "thirty", "forty", "fifty", "sixty", "seventy"),
        *("eighty", "ninety", "hundred", "thousand", "million", "billion", "true", "false"),
        *("inside", "outside", "ahead", "behind", "later", "earlier", "together", "instead"),
        *("second", "minute", "hour", "day", "week", "month", "year", "time", "percent"),
        *("degree", "gram", "lot", "bit", "couple", "half", "people", "worth", "thing"),
    }
)
"""Stems that never name what a page is about: times, numbers, measures, truth values."""

NOUN_STOP_WORDS = frozenset(
    {"interest", "system", "fire", "bill", "bottom", "front", "side", "back", "detail"}
    | {"amount", "first", "last", "third", "whole", "full"}
)
"""Words on the stop list that belong in a noun phrase ("compound interest", "solar
system", "first telescope")."""

_NOUN_CUES: frozenset[str] = frozenset(
    {
        *("the", "a", "an", "this", "these", "those", "your", "my", "our", "their", "his"),
        *("her", "its", "each", "every", "per", "no", "some", "any", "of", "in", "on", "at"),
        *("for", "with", "from", "into", "about"),
    }
)
"""A word after one of these is used as a noun (or an adjective before one)."""

_DETERMINERS: frozenset[str] = frozenset(
    {"the", "a", "an", "this", "these", "those", "your", "my", "our", "their", "his", "her", "its"}
)
"""For ``-ing``/``-ed`` forms a preposition proves nothing ("by taking"): these do."""

_VERB_BEFORE: frozenset[str] = frozenset(
    {
        *("to", "can", "cannot", "can't", "will", "won't", "would", "should", "may", "might"),
        *("must", "could", "do", "does", "did", "don't", "doesn't", "didn't", "never", "i"),
        *("you", "we", "they", "he", "she", "it", "also", "then", "often", "usually"),
    }
)
"""A word after one of these is a verb ("can register", "they ferment")."""

_VERB_AFTER: frozenset[str] = frozenset(
    {
        *("the", "a", "an", "your", "my", "our", "their", "his", "her", "its", "them", "it"),
        *("you", "this", "these", "those", "up", "out", "off", "down", "through", "by"),
        *("when", "behind", "away", "more"),
    }
)
"""A word before one of these is a verb ("raises the", "passes through", "left by")."""

_IRREGULAR_PAST: frozenset[str] = frozenset(
    {
        *("left", "born", "taken", "made", "gone", "seen", "known", "given", "built", "sold"),
        *("lost", "won", "brought", "thought", "found", "kept", "held", "told", "felt"),
        *("meant", "became", "began", "begun", "came", "chose", "chosen", "drove", "ran"),
        *("risen", "rose", "took", "went", "wrote", "written", "grew", "grown", "sown"),
    }
)
"""Past forms without ``-ed`` ("left", "born"): verbs unless a noun cue says otherwise."""

_LY_NOUNS: frozenset[str] = frozenset(
    {"family", "italy", "supply", "assembly", "belly", "rally", "jelly", "ally", "anomaly"}
)
"""Words ending in "-ly" that are nouns, not adverbs."""

_SENTENCE_START = re.compile(r"[.!?:]\s*$")

_WORD = re.compile(r"[^\W\d_][\w'’-]*[^\W_]|[^\W\d_]", re.UNICODE)

Key = tuple[str, ...]

stem_cached = functools.lru_cache(maxsize=1 << 15)(stem)
""":func:`processors.ai.text.stem`, remembered (a page says most words many times)."""


class Uses(NamedTuple):
    """Stems a text uses as a noun at least once, and more often as a verb than a noun."""

    nouns: set[str]
    verbs: set[str]


def uses(text: str, *, compounds: bool = False) -> Uses:
    """Stems the text uses as a noun at least once, and more often as a verb than a noun.

    Noun cues: a determiner, possessive or preposition before the word ("the kick", "of
    dust"; only a determiner or possessive for an ``-ing``/``-ed`` form: "by taking"
    proves nothing), or a capital inside a sentence ("Earth"). Verb cues: a modal, "to"
    or a subject pronoun before it ("can register"), or an object, particle or
    conjunction after it ("raises the", "passes through", "happen when"). A word without
    a noun cue in an ``-ed`` form or an irregular past form counts as a verb too.
    ``compounds``: a noun cue one or two content words back counts too ("the transfer
    window", "your blood pressure readings": the head of a compound noun).
    """
    matches = list(_WORD.finditer(text))
    lower = [*(m.group(0).replace("’", "'").lower() for m in matches), ""]
    noun: Counter[str] = Counter()
    verb: Counter[str] = Counter()
    for index, match in enumerate(matches):
        word = lower[index]
        before = lower[index - 1] if index else ""
        cues = _DETERMINERS if word.endswith(("ing", "ed")) else _NOUN_CUES
        if (
            before in cues
            or (before and match.group(0)[0].isupper() and _inside(text, match))
            or (compounds and _compound(lower, index, cues))
        ):
            noun[word] += 1
        elif before in _VERB_BEFORE or lower[index + 1] in _VERB_AFTER or _past(word):
            verb[word] += 1
    nouns: Counter[str] = Counter()
    for word, count in noun.items():
        nouns[stem_cached(word)] += count
    verbs: Counter[str] = Counter()
    for word, count in verb.items():
        verbs[stem_cached(word)] += count
    return Uses(nouns=set(nouns), verbs={key for key, count in verbs.items() if count > nouns[key]})


_HOW_TO = re.compile(r"\bhow\s+to\s+([^\W\d_][\w'’-]*)", re.IGNORECASE)


def title_verbs(title: str) -> set[str]:
    """Stems a title uses as a verb: the word after "how to" ("How to Dice an Onion").

    A title's capitals and punctuation say nothing to :func:`uses` (title case, a colon
    before "The"), so a title is read for this one cue alone.
    """
    return {stem_cached(match.group(1).lower()) for match in _HOW_TO.finditer(title)}


def _compound(lower: list[str], index: int, cues: frozenset[str]) -> bool:
    """Whether one or two content words stand between ``lower[index]`` and a noun cue."""
    for gap in (1, 2):
        if index - gap - 1 < 0:
            return False
        between = lower[index - gap : index]
        if any(w in ENGLISH_STOP_WORDS or w in _VERB_BEFORE for w in between):
            return False
        if lower[index - gap - 1] in cues:
            return True
    return False


def modifiers(text: str) -> set[str]:
    """Stems the text writes twice or more and always in front of one same content word
    ("compound" when it only ever says "compound interest"): a part of a longer name
    there, never what a phrase names alone."""
    after: dict[str, set[str]] = {}
    seen: Counter[str] = Counter()
    for run in content_runs(text):
        keys = [stem_cached(w.lower()) for w in run]
        for index, key in enumerate(keys):
            seen[key] += 1
            after.setdefault(key, set()).add(keys[index + 1] if index + 1 < len(keys) else "")
    return {key for key, nexts in after.items() if seen[key] >= 2 and len(nexts) == 1} - {
        key for key, nexts in after.items() if "" in nexts
    }


def _inside(text: str, match: re.Match[str]) -> bool:
    """Whether a word stands inside a sentence (not after ., !, ?, : or a line break)."""
    gap = text[max(0, match.start() - 3) : match.start()]
    return not _SENTENCE_START.search(gap) and "\n" not in gap


def _past(word: str) -> bool:
    return word.endswith("ed") or word in _IRREGULAR_PAST


def weak_head(key: Key, verbs: set[str], slug: set[str]) -> bool:
    """Whether a phrase's last word never names a subject: a time, number or measure word,
    an ``-ly`` adverb, or a word the text uses mostly as a verb (``verbs``) that the URL's
    slug (``slug``) does not name."""
    head = key[-1]
    if head in WEAK_HEADS or (head.endswith("ly") and len(head) > 4 and head not in _LY_NOUNS):
        return True
    return head in verbs and head not in slug
