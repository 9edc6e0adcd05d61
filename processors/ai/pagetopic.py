"""A page's topic and tags from its own text and URL: noun phrases ranked by what backs them.

Why: YAKE alone (:func:`processors.ai.text.keywords`) ranks words by where and how
evenly they occur, not by what they are, so its first phrase is often a verb, a month or
a side word ("Taking" for a penalty-kick page, "January" for a transfer-window page,
"happen" and "left" among a meteor-shower page's tags). The shared enrichment never
sees the reader's title (:mod:`processors.agents.enrich`), but the normalized URL is
shared and its slug usually names the subject ("…/transfer-window-explained").

Every candidate (YAKE's phrases, the slug's word runs, the text's recurring two-word
runs and its three-word runs whose words the slug all names) is scored by what backs it
(:func:`rank_phrases`):

* YAKE's rank (``1 / (1 + rank)``);
* the URL: every word of the phrase in the slug, more when the phrase stands there as is;
* the text: how often the phrase occurs as a run of content words, and in a heading;
* how the text uses the phrase's last word (:func:`_uses`): a phrase whose last word is
  a month, weekday, number, measure or time word, an ``-ly`` adverb, or a word the text
  uses more as a verb than as a noun ("happen", "left", "passes") is demoted to the end
  of the tags (used only to make up three), unless the slug names it; the topic is the
  best phrase whose last word the text also uses as a noun ("the kick", "of dust") or
  the slug names.

Pure and deterministic (no I/O); 0.7–0.8 ms per page next to YAKE's eight or so. The
cues are English words: on other languages' pages little is demoted.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections import Counter
from typing import NamedTuple
from urllib.parse import urlsplit

from processors.ai.text import GENERIC_WORDS, content_runs, stem

__all__ = ["WEAK_HEADS", "Ranked", "rank_phrases", "slug_runs"]

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

_WORD = re.compile(r"[^\W\d_][\w'’-]*[^\W_]|[^\W\d_]", re.UNICODE)
_SENTENCE_START = re.compile(r"[.!?:]\s*$")
_SLUG_NOISE = re.compile(r"\.(html?|aspx?|php)$")

Key = tuple[str, ...]

_stem = functools.lru_cache(maxsize=1 << 15)(stem)
""":func:`processors.ai.text.stem`, remembered (a page says most words many times)."""


def slug_runs(url: str) -> list[list[str]]:
    """The URL path's word runs, lower case, split at stop and generic words and numbers.

    ``…/football/transfer-window-explained`` gives ``[["football"], ["transfer",
    "window"]]`` ("explained" is generic); the host is left out (it names the site).
    """
    path = _SLUG_NOISE.sub("", urlsplit(url).path.lower())
    text = " . ".join(re.sub(r"[_\-+]+", " ", part) for part in re.split(r"[/.;,]+", path))
    runs: list[list[str]] = []
    for run in content_runs(text):
        for generic, words in itertools.groupby(run, key=lambda w: w in GENERIC_WORDS):
            if not generic:
                runs.append(list(words))
    return runs


def _grams(runs: list[list[str]]) -> tuple[Counter[Key], dict[Key, str]]:
    """Counts of the runs' one- and two-word keys (stems), and each key's most frequent
    written form (lower case)."""
    counts: Counter[Key] = Counter()
    forms: Counter[tuple[Key, str]] = Counter()
    for run in runs:
        words = [w.lower() for w in run]
        keys = [_stem(w) for w in words]
        for size in (1, 2):
            for start in range(len(keys) - size + 1):
                key = tuple(keys[start : start + size])
                counts[key] += 1
                forms[(key, " ".join(words[start : start + size]))] += 1
    best: dict[Key, str] = {}
    for (key, form), _ in forms.most_common():
        best.setdefault(key, form)
    return counts, best


class _Uses(NamedTuple):
    nouns: set[str]
    verbs: set[str]


def _uses(text: str) -> _Uses:
    """Stems the text uses as a noun at least once, and more often as a verb than a noun.

    Noun cues: a determiner, possessive or preposition before the word ("the kick", "of
    dust"; only a determiner or possessive for an ``-ing``/``-ed`` form: "by taking"
    proves nothing), or a capital inside a sentence ("Earth"). Verb cues: a modal, "to"
    or a subject pronoun before it ("can register"), or an object, particle or
    conjunction after it ("raises the", "passes through", "happen when"). A word without
    a noun cue in an ``-ed`` form or an irregular past form counts as a verb too.
    """
    matches = list(_WORD.finditer(text))
    lower = [*(m.group(0).replace("’", "'").lower() for m in matches), ""]
    noun: Counter[str] = Counter()
    verb: Counter[str] = Counter()
    for index, match in enumerate(matches):
        word = lower[index]
        before = lower[index - 1] if index else ""
        cues = _DETERMINERS if word.endswith(("ing", "ed")) else _NOUN_CUES
        if before in cues or (before and match.group(0)[0].isupper() and _inside(text, match)):
            noun[word] += 1
        elif before in _VERB_BEFORE or lower[index + 1] in _VERB_AFTER or _past(word):
            verb[word] += 1
    nouns: Counter[str] = Counter()
    for word, count in noun.items():
        nouns[_stem(word)] += count
    verbs: Counter[str] = Counter()
    for word, count in verb.items():
        verbs[_stem(word)] += count
    return _Uses(
        nouns=set(nouns), verbs={key for key, count in verbs.items() if count > nouns[key]}
    )


def _inside(text: str, match: re.Match[str]) -> bool:
    """Whether a word stands inside a sentence (not after ., !, ?, : or a line break)."""
    gap = text[max(0, match.start() - 3) : match.start()]
    return not _SENTENCE_START.search(gap) and "\n" not in gap


def _past(word: str) -> bool:
    return word.endswith("ed") or word in _IRREGULAR_PAST


def _headings(text: str) -> list[list[str]]:
    lines = [line.strip() for line in text.splitlines()]
    short = [ln for ln in lines if 0 < len(ln.split()) <= 8 and not ln.endswith((".", "?", "!"))]
    return [run for line in short for run in content_runs(line)]


def _weak(key: Key, verbs: set[str], slug: set[str]) -> bool:
    head = key[-1]
    if head in WEAK_HEADS or (head.endswith("ly") and len(head) > 4 and head not in _LY_NOUNS):
        return True
    return head in verbs and head not in slug


class Ranked(NamedTuple):
    """A page's topic and candidate phrases, best first: noun phrases, then demoted ones."""

    topic: str
    strong: list[str]
    weak: list[str]


def rank_phrases(text: str, url: str, ranked: list[str]) -> Ranked:
    """Candidate phrases of a page, best topic first (see the module docstring).

    Args:
        text: the page's readable text.
        url: the page's normalized URL (its slug words count).
        ranked: YAKE's key phrases for the text, most characteristic first.

    Returns:
        The topic (``""`` when no phrase qualifies) and lower-case phrases of one to
        three words, best first: ``strong`` (noun phrases) and ``weak`` (last word a
        time, number or measure word, an adverb, or used more as a verb than as a noun),
        without a phrase inside a better-ranked longer one.
    """
    runs = content_runs(text)
    counts, surface = _grams(runs)
    slug_grams, slug_forms = _grams(slug_runs(url))
    surface.update(slug_forms)
    slug = {key[0] for key in slug_grams if len(key) == 1}
    heads, _ = _grams(_headings(text))
    nouns, verbs = _uses(text)
    scores: dict[Key, float] = {}
    for rank, phrase in enumerate(ranked):
        key = tuple(_stem(w) for w in phrase.lower().split())
        scores[key] = max(scores.get(key, 0.0), 1.0 / (1.0 + rank))
        surface.setdefault(key, phrase.lower())
    _add_slug_triples(runs, slug, counts, surface)
    for key, count in counts.items():
        if len(key) == 3 or (len(key) == 2 and (count >= 2 or set(key) <= slug)):
            scores.setdefault(key, 0.0)
    for key in slug_grams:
        if counts.get(key):
            scores.setdefault(key, 0.0)
    for key, base in scores.items():
        found = counts.get(key, 0)
        score = base + 0.3 * math.log1p(found) + 0.3 * bool(heads.get(key))
        if all(part in slug for part in key):
            score += 0.8 + 0.6 * (len(key) > 1 and key in slug_grams)
        if len(key) > 1 and found >= 2:
            score += 0.4
        scores[key] = score
    _prefer_phrases(scores, counts, slug_grams, verbs)
    order = _outermost(sorted(scores, key=lambda key: -scores[key]))
    weak = {key for key in order if _weak(key, verbs, slug)}
    named = nouns | slug
    topic = next(
        (
            key
            for key in order
            if key not in weak and (key[-1] in named or (len(key) > 1 and counts[key] >= 2))
        ),
        None,
    )
    return Ranked(
        topic="" if topic is None else surface.get(topic, " ".join(topic)),
        strong=[surface.get(key, " ".join(key)) for key in order if key not in weak],
        weak=[surface.get(key, " ".join(key)) for key in order if key in weak],
    )


def _add_slug_triples(
    runs: list[list[str]], slug: set[str], counts: Counter[Key], surface: dict[Key, str]
) -> None:
    """Count the text's three-word runs whose words the slug all names ("fixed rate
    mortgage" on ``…/mortgages/fixed-vs-variable-rate``), with their written form."""
    for run in runs:
        if len(run) < 3:
            continue
        keys = [_stem(w.lower()) for w in run]
        for start in range(len(keys) - 2):
            key = tuple(keys[start : start + 3])
            if set(key) <= slug:
                counts[key] += 1
                surface.setdefault(key, " ".join(w.lower() for w in run[start : start + 3]))


def _outermost(order: list[Key]) -> list[Key]:
    """``order`` without the phrases inside a better-ranked longer one ("fixed rate" after
    "fixed rate mortgage"); single words are left to :func:`processors.ai.text.choose_tags`."""
    kept: list[Key] = []
    for key in order:
        inside = len(key) > 1 and any(
            len(longer) > len(key)
            and any(longer[i : i + len(key)] == key for i in range(len(longer)))
            for longer in kept
        )
        if not inside:
            kept.append(key)
    return kept


def _prefer_phrases(
    scores: dict[Key, float], counts: Counter[Key], slug_grams: Counter[Key], verbs: set[str]
) -> None:
    """A word seen mostly inside a phrase, or in one whose words the slug all names, gives
    the phrase its score (a longer phrase a little more).

    "pressure" on a page that says "blood pressure" most times it says "pressure", or
    "window" on ``…/transfer-window-explained``: the phrase is what the page is about
    ("Blood pressure", "Transfer window"), not the word.
    """
    slug = {key[0] for key in slug_grams if len(key) == 1}
    for key in list(scores):
        found = counts.get(key, 0)
        named = found >= 1 and all(part in slug for part in key)
        if len(key) < 2 or not (named or found >= 2) or _weak(key, verbs, slug):
            continue
        for part in key:
            single = (part,)
            if single in scores and (named or 2 * found >= counts.get(single, 0)):
                scores[key] = max(scores[key], (1.0 + 0.05 * (len(key) - 1)) * scores[single])
