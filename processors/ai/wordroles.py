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
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from typing import NamedTuple

from processors.ai.text import STOP_WORDS, stem

__all__ = [
    "NOUN_STOP_WORDS",
    "WEAK_HEADS",
    "Key",
    "Uses",
    "Words",
    "inside_sentence",
    "modifiers",
    "stem_cached",
    "title_verbs",
    "uses",
    "weak_head",
    "words_of",
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


def uses(text: str, *, compounds: bool = False, only: AbstractSet[str] | None = None) -> Uses:
    """Stems the text uses as a noun at least once, and more often as a verb than a noun.

    Noun cues: a determiner, possessive or preposition before the word ("the kick", "of
    dust"; only a determiner or possessive for an ``-ing``/``-ed`` form: "by taking"
    proves nothing), or a capital inside a sentence ("Earth"). Verb cues: a modal, "to"
    or a subject pronoun before it ("can register"), or an object, particle or
    conjunction after it ("raises the", "passes through", "happen when"). A word without
    a noun cue in an ``-ed`` form or an irregular past form counts as a verb too.
    ``compounds``: a noun cue one or two content words back counts too ("the transfer
    window", "your blood pressure readings": the head of a compound noun). ``only``:
    count these stems alone (cheaper when a few words are asked about).
    """
    noun: Counter[str] = Counter()
    verb: Counter[str] = Counter()
    for words, index in _contexts(text, only):
        lower = words.lower
        word = lower[index]
        before = lower[index - 1] if index else ""
        cues = _DETERMINERS if word.endswith(("ing", "ed")) else _NOUN_CUES
        if (
            before in cues
            or (before and words.raw[index][0].isupper() and inside_sentence(words.seps[index]))
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


class Words(NamedTuple):
    """A text's words as written, in lower case (``""`` past the end) and what stands
    before each (spaces, punctuation, numbers)."""

    raw: list[str]
    lower: list[str]
    seps: list[str]


_SEP_WORD = re.compile(rf"(.*?)({_WORD.pattern})", re.DOTALL)
_Context = tuple[Words, int]


def _contexts(text: str, only: AbstractSet[str] | None) -> Iterator[_Context]:
    """Every word of ``text`` (or those whose stem is in ``only``) with the words around it:
    the text's words and its index."""
    words = words_of(text)
    if only is None:
        yield from ((words, index) for index in range(len(words.raw)))
        return
    for index, word in enumerate(words.lower[:-1]):
        if stem_cached(word) in only:
            yield words, index


@functools.lru_cache(maxsize=16)
def words_of(text: str) -> Words:
    """The text's words and their lower-case forms (``""`` past the end), remembered for
    the next question about the same text (:func:`uses`, then :func:`modifiers`)."""
    found = _SEP_WORD.findall(text)
    raw = [word for _, word in found]
    lower = "\x00".join(raw).replace("’", "'").lower().split("\x00") if raw else []
    return Words(raw=raw, lower=[*lower, ""], seps=[sep for sep, _ in found])


def _compound(lower: list[str], index: int, cues: frozenset[str]) -> bool:
    """Whether one or two content words stand between ``lower[index]`` and a noun cue."""
    for gap in (1, 2):
        if index - gap - 1 < 0:
            return False
        between = lower[index - gap : index]
        if any(w in STOP_WORDS or w in _VERB_BEFORE for w in between):
            return False
        if lower[index - gap - 1] in cues:
            return True
    return False


def modifiers(text: str, only: AbstractSet[str] | None = None) -> set[str]:
    """Stems the text writes twice or more and always in front of one same content word
    ("compound" when it only ever says "compound interest"): a part of a longer name
    there, never what a phrase names alone. ``only``: ask about these stems alone."""
    after: dict[str, set[str]] = {}
    seen: Counter[str] = Counter()
    for words, index in _contexts(text, only):
        word = words.lower[index]
        if word in STOP_WORDS or len(word) < 2:
            continue
        key = stem_cached(word)
        seen[key] += 1
        following = ""
        if index + 1 < len(words.raw):
            nxt = words.lower[index + 1]
            if not words.seps[index + 1].strip() and nxt not in STOP_WORDS and len(nxt) > 1:
                following = stem_cached(nxt)
        after.setdefault(key, set()).add(following)
    return {key for key, nexts in after.items() if seen[key] >= 2 and nexts != {""}} & {
        key for key, nexts in after.items() if len(nexts) == 1
    }


def inside_sentence(sep: str) -> bool:
    """Whether a word stands inside a sentence (not after ., !, ?, : or a line break), by
    what stands before it (``sep``; the three characters before a word are its own when
    no word stands closer, and a word holds none of those)."""
    gap = sep[-3:]
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
