"""What a page is about, as weighted words: its title and headings count more than its body.

Why this shape: pages in one session range from a two-line forum reply to a long guide,
and unrelated topics share everyday words ("water", "pressure", "season"). A page's
title and headings name its subject far more reliably than its body, so each page
becomes a bag of stemmed words where the title's main part weighs most, headings and
the URL's path next, the rest of the title (usually the site's name) and the body's
lead least. Words are then weighted by how rare they are in the session (TF-IDF) *and*
in everyday English (``wordfreq``'s Zipf frequency: "water" says less about a page
than "espresso"), words found on one page only count half (a long page's many unique
words would otherwise dilute what it shares with its topic), and each vector is
normalised, so a long page does not outweigh a short one.

All functions are pure and deterministic.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import lru_cache
from urllib.parse import urlsplit

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from wordfreq import zipf_frequency

from processors.ai.text import GENERIC_WORDS, content_runs, tokens

__all__ = [
    "BODY_WORDS",
    "WEIGHTS",
    "headings",
    "main_title",
    "page_vectors",
    "rarity",
    "title_parts",
    "title_similarity",
    "title_vector_similarity",
    "url_words",
    "weighted_words",
]

BODY_WORDS = 250
"""Only the lead of a page's body is used: it names the subject, the rest adds noise."""

WEIGHTS = {"title": 3.0, "heading": 1.5, "url": 1.5, "site": 0.5, "body": 1.0}
"""How much one occurrence of a word counts, by where it appears."""

LONE_WORD_WEIGHT = 0.5
"""Weight of a word found on only one page of the session (it links that page to none)."""

WordLookup = Callable[[str], "np.ndarray | None"]
"""A word's vector (any fixed length), or ``None`` for a word the vector set lacks."""

_SEPARATORS = re.compile(r"\s+[-|–—:•·»]\s+|\s+::\s+")
_END_PUNCTUATION = tuple('.!?,;:…"”)')
_URL_NOISE = frozenset(
    {
        "comments",
        "comment",
        "thread",
        "threads",
        "forum",
        "forums",
        "blog",
        "articles",
        "article",
        "guides",
        "learn",
        "advice",
        "improve",
        "instruction",
        "reviews",
        "how-to",
        "html",
        "htm",
        "php",
        "index",
        "wiki",
        "questions",
        "topic",
        "www",
        "post",
        "posts",
    }
)


def title_parts(title: str) -> list[str]:
    """A title split at separators such as `` - ``, `` | `` or `` : `` (site names, sections)."""
    return [part.strip() for part in _SEPARATORS.split(title) if part.strip()]


def main_title(title: str) -> str:
    """The part of a title that names the page: the one with the most content words.

    ``"Shots sour even at the finest setting? : r/espresso"`` gives
    ``"Shots sour even at the finest setting?"``; ties go to the first part.
    """
    parts = title_parts(title)
    if not parts:
        return title.strip()
    return max(parts, key=lambda part: (len(tokens(part)), -parts.index(part)))


def headings(text: str, *, max_words: int = 8) -> list[str]:
    """Short lines of their own without closing punctuation: the headings of the page."""
    lines = [line.strip() for line in text.splitlines()]
    if len(lines) < 2:
        return []
    found = []
    for line in lines:
        words = line.split()
        if (
            1 <= len(words) <= max_words
            and not line.endswith(_END_PUNCTUATION)
            and line[0].isupper()
            and tokens(line)
        ):
            found.append(line)
    return found


def url_words(url: str) -> list[str]:
    """Words of the URL's path (not its host): slugs often name the subject."""
    path = urlsplit(url).path.lower()
    raw = re.split(r"[/\-_.+]+", path)
    return [word for word in raw if word.isalpha() and len(word) > 1 and word not in _URL_NOISE]


def weighted_words(title: str, text: str, url: str = "") -> dict[str, float]:
    """The page as stemmed words with weights by where they appear (see :data:`WEIGHTS`)."""
    counts: defaultdict[str, float] = defaultdict(float)
    main = main_title(title)
    heads = headings(text)
    head_set = set(heads)
    body = " ".join(line for line in text.splitlines() if line.strip() not in head_set)
    sources = [
        ("title", main),
        ("site", " ".join(part for part in title_parts(title) if part != main)),
        ("heading", " ".join(heads)),
        ("url", " ".join(url_words(url))),
        ("body", " ".join(body.split()[:BODY_WORDS])),
    ]
    for kind, source in sources:
        for word in tokens(source):
            if word not in GENERIC_WORDS and len(word) > 2:
                counts[word] += WEIGHTS[kind]
    return dict(counts)


@lru_cache(maxsize=65536)
def rarity(word: str) -> float:
    """How much a word says about a subject, from its everyday English frequency.

    ``(8 - zipf) / 4`` with wordfreq's Zipf scale (``the`` ≈ 7.7, ``water`` ≈ 5.5,
    ``espresso`` ≈ 3.4, unknown words 0), kept within 0.2–2: about 0.6 for everyday
    words, 1.1 for subject words, 2 for words too rare to be listed.
    """
    return min(2.0, max(0.2, (8.0 - zipf_frequency(word, "en")) / 4.0))


def page_vectors(bags: Sequence[dict[str, float]]) -> tuple[np.ndarray, list[str]]:
    """Unit TF-IDF vectors (rows) of the bags, and the vocabulary (columns).

    Term weight ``log(1 + w)`` (``w`` the weighted count) times the smoothed inverse
    document frequency within the session, ``log((1 + n) / (1 + df)) + 1``, times the
    word's :func:`rarity`; words on one page only are scaled by
    :data:`LONE_WORD_WEIGHT`. A page without any word gets a zero row.
    """
    vocabulary = sorted({word for bag in bags for word in bag})
    index = {word: i for i, word in enumerate(vocabulary)}
    matrix = np.zeros((len(bags), max(1, len(vocabulary))))
    for row, bag in enumerate(bags):
        for word, weight in bag.items():
            matrix[row, index[word]] = math.log1p(weight)
    count = len(bags)
    df = (matrix > 0).sum(0)
    idf = np.log((1 + count) / (1 + df)) + 1.0
    idf *= np.array([rarity(word) for word in vocabulary] or [1.0])
    idf[df < 2] *= LONE_WORD_WEIGHT
    matrix *= idf[None, :]
    norms = np.linalg.norm(matrix, axis=1)
    matrix[norms > 0] /= norms[norms > 0, None]
    return matrix, vocabulary


def _title_content(title: str, url: str) -> str:
    words = [w for run in content_runs(title) for w in run if w.lower() not in GENERIC_WORDS]
    return " ".join([*words, *url_words(url)]).lower()


def title_similarity(titles: Sequence[str], urls: Sequence[str]) -> np.ndarray:
    """Cosine similarity of titles (with the URL's path words) as character 4–5-grams.

    Character grams match word parts that whole words miss: "surf" in "surfboard",
    "garden" in "vegetablegardening", "brew" in "homebrewing". Only content words count:
    two titles built on one template ("Training for Your First …: A Long Guide") are
    not alike for their stop words and generic words.
    """
    documents = [_title_content(title, url) for title, url in zip(titles, urls, strict=True)]
    if not any(document.strip() for document in documents):
        return np.eye(len(documents))
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(4, 5), sublinear_tf=True)
    try:
        matrix = vectorizer.fit_transform(documents)
    except ValueError:  # nothing long enough to make a 4-gram
        return np.eye(len(documents))
    return np.asarray((matrix @ matrix.T).todense(), dtype=float)


def title_vector_similarity(
    titles: Sequence[str], urls: Sequence[str], lookup: WordLookup, threshold: float
) -> np.ndarray:
    """How alike titles are in meaning: word vectors link words that share no letters.

    Each title (its content words and the URL's path words, as written, lower case) is
    the sum of its words' unit vectors weighted by :func:`rarity`; the vectors are
    centred on the session's mean (what every page of the session shares says nothing
    about which group a page is in), and the cosine is rescaled so that ``threshold``
    and below give 0 and 1 gives 1: only titles close in meaning link. In a tuning
    session of marathon, cycling and heat-pump pages the mean cosine is 0.22–0.43
    inside each topic and 0.05 between marathon and cycling titles.
    A page none of whose words has a vector has a zero row.
    """
    count = len(titles)
    rows = np.zeros((count, 0))
    for index, (title, url) in enumerate(zip(titles, urls, strict=True)):
        for word in _title_content(title, url).split():
            vector = lookup(word)
            if vector is None or not np.any(vector):
                continue
            if rows.shape[1] == 0:
                rows = np.zeros((count, len(vector)))
            rows[index] += np.asarray(vector, dtype=float) / np.linalg.norm(vector) * rarity(word)
    known = np.linalg.norm(rows, axis=1) > 0 if rows.shape[1] else np.zeros(count, dtype=bool)
    if known.sum() < 2:
        return np.zeros((count, count))
    rows[known] -= rows[known].mean(0)
    norms = np.linalg.norm(rows, axis=1)
    rows[norms > 1e-9] /= norms[norms > 1e-9, None]
    rows[norms <= 1e-9] = 0.0
    cosine = rows @ rows.T
    return np.clip((cosine - threshold) / (1.0 - threshold), 0.0, 1.0)
