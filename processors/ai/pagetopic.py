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
* how the text uses the phrase's last word (:func:`processors.ai.wordroles.uses`): a
  phrase whose last word is a month, weekday, number, measure or time word, an ``-ly``
  adverb, or a word the text uses more as a verb than as a noun ("happen", "left",
  "passes") is demoted to the end of the tags (used only to make up three), unless the
  slug names it; the topic is the best phrase whose last word the text also uses as a
  noun ("the kick", "of dust") or the slug names.

Pure and deterministic (no I/O); 0.7–0.8 ms per page next to YAKE's eight or so. The
cues are English words: on other languages' pages little is demoted.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from typing import NamedTuple
from urllib.parse import urlsplit

from processors.ai.text import GENERIC_WORDS, content_runs
from processors.ai.wordroles import WEAK_HEADS, Key
from processors.ai.wordroles import stem_cached as _stem
from processors.ai.wordroles import uses as _uses
from processors.ai.wordroles import weak_head as _weak

__all__ = ["WEAK_HEADS", "Ranked", "rank_phrases", "slug_runs"]

_SLUG_NOISE = re.compile(r"\.(html?|aspx?|php)$")


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


def _headings(text: str) -> list[list[str]]:
    lines = [line.strip() for line in text.splitlines()]
    short = [ln for ln in lines if 0 < len(ln.split()) <= 8 and not ln.endswith((".", "?", "!"))]
    return [run for line in short for run in content_runs(line)]


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
