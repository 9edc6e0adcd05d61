"""Plain text helpers the offline provider is built from: tokens, sentences, keywords, labels.

Everything here is a pure function of its input (no clock, no network, no randomness), so
the local provider gives the same answer for the same pages every time and the helpers are
tested with hypothesis properties. Keyword extraction uses YAKE (statistical, offline).
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import Counter

import yake
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

__all__ = [
    "GENERIC_WORDS",
    "bigrams",
    "choose_tags",
    "content_runs",
    "keywords",
    "short_label",
    "split_sentences",
    "stem",
    "summarize",
    "title_case",
    "tokens",
]

_WORD = re.compile(r"[^\W\d_][\w'’-]*[^\W_]|[^\W\d_]", re.UNICODE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"“(]?[A-Z0-9])")

GENERIC_WORDS: frozenset[str] = frozenset(
    {
        "make",
        "makes",
        "made",
        "home",
        "facts",
        "fact",
        "guide",
        "guides",
        "how",
        "best",
        "perfect",
        "classic",
        "explained",
        "complete",
        "tips",
        "tip",
        "way",
        "ways",
        "things",
        "thing",
        "use",
        "using",
        "used",
        "new",
        "good",
        "great",
        "first",
        "read",
        "learn",
        "article",
        "page",
        "site",
        "blog",
        "post",
        "click",
        "cookie",
        "cookies-policy",
        "subscribe",
        "newsletter",
        "sign",
        "login",
        "menu",
        "share",
        "comments",
        "comment",
        "advertisement",
        "privacy",
        "terms",
        "need",
        "needs",
        "walkthrough",
        "primer",
        "basics",
        "introduction",
        "intro",
        "overview",
        "works",
        "work",
        "what",
        "why",
        "when",
    }
)
"""Words that say nothing about a page's subject; never used alone as a tag or label."""

_STOP: frozenset[str] = frozenset(ENGLISH_STOP_WORDS) | {
    *("s", "t", "don", "it's", "you're"),
    *("vs", "versus"),  # "401(k) vs IRA": a comparison's word, never a subject ("Vs IRA")
}


STOP_WORDS = _STOP
"""Words that never start, end or stand in a run of content words (:func:`content_runs`)."""


def stem(word: str) -> str:
    """A light English stemmer: folds plurals (``holes`` → ``hole``, ``stories`` → ``story``)."""
    if len(word) > 5 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def tokens(text: str) -> list[str]:
    """Lower-cased, stemmed content words of ``text`` (stop words and numbers dropped)."""
    found = (match.group(0).lower().replace("’", "'") for match in _WORD.finditer(text))
    return [stem(word) for word in found if word not in _STOP and len(word) > 1]


_CLAUSE = re.compile(r"[.,;:!?()\[\]\"“”]+|\s[-–—]\s")


def bigrams(text: str) -> set[tuple[str, str]]:
    """Pairs of stemmed content words that stand next to each other within a clause.

    ``"the credit card debt."`` gives ``("credit", "card")`` and ``("card", "debt")``; a
    stop word or punctuation between two words breaks the pair.
    """
    pairs: set[tuple[str, str]] = set()
    for clause in _CLAUSE.split(text.lower()):
        words = [m.group(0).replace("’", "'") for m in _WORD.finditer(clause)]
        for first, second in itertools.pairwise(words):
            if first in _STOP or second in _STOP or len(first) < 2 or len(second) < 2:
                continue
            pairs.add((stem(first), stem(second)))
    return pairs


def content_runs(text: str, keep: frozenset[str] = frozenset()) -> list[list[str]]:
    """Runs of adjacent content words, as written, split at stop words and punctuation.

    ``"How to Read a Surf Forecast: Swell"`` gives ``[["Read"], ["Surf", "Forecast"],
    ["Swell"]]``: the candidates for noun phrases. Stop words in ``keep`` (lower case)
    stay in their runs ("Compound Interest").
    """
    runs: list[list[str]] = []
    for clause in _CLAUSE.split(text):
        run: list[str] = []
        for match in _WORD.finditer(clause):
            word = match.group(0).replace("’", "'")
            lower = word.lower()
            if (lower in _STOP and lower not in keep) or len(word) < 2:
                if run:
                    runs.append(run)
                run = []
            else:
                run.append(word)
        if run:
            runs.append(run)
    return runs


def split_sentences(text: str) -> list[str]:
    """Split prose into sentences on ., ! or ? followed by a capital letter or digit."""
    flat = " ".join(text.split())
    return [part.strip() for part in _SENTENCE_END.split(flat) if part.strip()]


def summarize(text: str, title: str = "", *, max_sentences: int = 2, max_chars: int = 320) -> str:
    """An extractive summary: the sentences that best cover the page's frequent words.

    Sentences are scored by the mean document frequency of their content words (words of
    the title count double), with a bonus for the opening sentence; the best ones are
    returned in their original order and cut to ``max_chars`` on a word boundary.

    Args:
        text: the page's readable text.
        title: the page's title (its words mark what matters).
        max_sentences: how many sentences to keep at most.
        max_chars: length limit of the summary.

    Returns:
        The summary, or the shortened title when the page has no prose.
    """
    sentences = split_sentences(text)
    if not sentences:
        return short_label(title, max_chars)
    freq = Counter(tokens(text))
    for word in tokens(title):
        freq[word] += 2
    scored: list[tuple[float, int]] = []
    for index, sentence in enumerate(sentences):
        words = tokens(sentence)
        if not words:
            continue
        score = sum(freq[word] for word in words) / (len(words) ** 0.5 + 1.0)
        if index == 0:
            score *= 1.3
        scored.append((score, index))
    chosen = sorted(
        index for _, index in sorted(scored, key=lambda s: (-s[0], s[1]))[:max_sentences]
    )
    return short_label(" ".join(sentences[index] for index in chosen), max_chars)


_local = threading.local()


def _extractor(lang: str) -> yake.KeywordExtractor:
    """One extractor per thread and language (extractors keep per-call state)."""
    cache: dict[str, yake.KeywordExtractor] = _local.__dict__.setdefault("extractors", {})
    if lang not in cache:
        cache[lang] = yake.KeywordExtractor(lan=lang, n=2, top=24, dedup_lim=0.7)
    return cache[lang]


def keywords(text: str, title: str = "", *, lang: str = "en", limit: int = 12) -> list[str]:
    """Key phrases (one or two words, lower case) of a page, most characteristic first.

    YAKE ranks candidate phrases; generic words ("guide", "how", "best"), stop words and
    single words already covered by a chosen two-word phrase are dropped.
    """
    language = (lang or "en").split("-")[0].lower() or "en"
    body = f"{title}. {title}. {text}" if title else text
    if not body.strip():
        return []
    try:
        ranked = _extractor(language).extract_keywords(body)
    except (KeyError, OSError, ValueError):
        ranked = _extractor("en").extract_keywords(body)
    lowered = " ".join(body.lower().split())
    # A two-word phrase must recur (or be in the title): one-off word pairs are mostly noise.
    recurring = [
        phrase for phrase, _ in ranked if " " not in phrase or lowered.count(phrase.lower()) >= 2
    ]
    return choose_tags(recurring, low=0, high=limit)


def choose_tags(
    candidates: list[str], *, low: int = 3, high: int = 7, fill: list[str] | None = None
) -> list[str]:
    """Pick between ``low`` and ``high`` distinct, meaningful tags from ranked candidates.

    Candidates are lower-cased and cleaned; duplicates (also by stem), generic words and
    single words that are part of an already chosen phrase are dropped. When fewer than
    ``low`` remain, words from ``fill`` (e.g. title words) top the list up.
    """
    chosen: list[str] = []
    seen_stems: set[tuple[str, ...]] = set()
    covered: set[str] = set()

    def offer(raw: str) -> None:
        words = [w for w in (m.group(0).lower() for m in _WORD.finditer(raw)) if len(w) > 1]
        if not words or len(chosen) >= high:
            return
        if len(words) == 1 and (words[0] in _STOP or words[0] in GENERIC_WORDS):
            return
        if {words[0], words[-1]} & (_STOP | GENERIC_WORDS):
            return
        key = tuple(stem(w) for w in words)
        if key in seen_stems or (len(key) == 1 and key[0] in covered):
            return
        seen_stems.add(key)
        covered.update(key)
        chosen.append(" ".join(words))

    for candidate in candidates:
        offer(candidate)
    for word in fill or []:
        if len(chosen) >= low:
            break
        offer(word)
    return chosen


def title_case(phrase: str) -> str:
    """Capitalize each word of a label, keeping words that already have capitals."""
    return " ".join(
        w if any(c.isupper() for c in w) else w[:1].upper() + w[1:] for w in phrase.split()
    )


def short_label(text: str, max_chars: int = 48) -> str:
    """Collapse whitespace and cut to ``max_chars`` on a word boundary, adding an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= max_chars:
        return flat
    cut = flat[: max_chars - 1]
    if " " in cut:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:-–—") + "…"
