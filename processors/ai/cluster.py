"""Grouping a session's pages by subject, and finding the words that name each group.

Why this shape: a browsing session is small (a handful to a few hundred pages) and pages
are short, so a TF-IDF bag of words is sparse and two pages on the same subject may share
only a few words. We therefore smooth each page towards the pages it resembles (one step
of similarity propagation, weighted by dwell so the pages the user actually read pull
hardest) and cut an average-linkage tree at a fixed cosine distance. On the demo corpus
this recovers the topic labels with an adjusted Rand index of about 0.95
(``bench/mindmap_quality.py``). All functions are pure and deterministic.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import msgspec
import numpy as np
from scipy import sparse
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import normalize

from processors.ai.text import GENERIC_WORDS, bigrams, tokens

__all__ = [
    "GroupTerms",
    "common_words",
    "describe_groups",
    "group_pages",
    "page_document",
    "smoothed_distances",
    "split_subtopics",
]

MAX_WORDS = 400
"""Only the lead of a long page is used: it names the subject, the rest adds noise."""

SMOOTHING = 3.0
"""How strongly each page moves towards similar pages before clustering."""

CUT_DISTANCE = 0.965
"""Cosine distance at which the average-linkage tree is cut into groups."""

MAX_GROUPS = 8
"""A mind map with more top-level branches than this is unreadable."""

MIN_SILHOUETTE = 0.02
"""Below this silhouette, a one-subject session is not split into subtopics."""


class GroupTerms(msgspec.Struct, frozen=True):
    """The most distinctive words of one group, best first, as shown to a user."""

    words: list[str]
    phrases: list[str]


def page_document(title: str, text: str) -> str:
    """The text clustered for one page: the title twice (it names the subject) plus the lead."""
    lead = " ".join(text.split()[:MAX_WORDS])
    return f"{title}. {title}. {lead}"


def _weights(dwell_ms: Sequence[int]) -> np.ndarray:
    raw = np.sqrt(np.maximum(np.asarray(dwell_ms, dtype=float), 0.0) + 1000.0)
    return raw / raw.mean()


def _matrix(documents: Sequence[str]) -> tuple[sparse.csr_matrix, list[str]]:
    vectorizer = TfidfVectorizer(
        tokenizer=tokens, token_pattern=None, lowercase=False, sublinear_tf=True
    )
    try:
        matrix = vectorizer.fit_transform(documents)
    except ValueError:  # no words at all in any document
        return sparse.csr_matrix((len(documents), 1)), [""]
    return sparse.csr_matrix(normalize(matrix)), list(vectorizer.get_feature_names_out())


def smoothed_distances(matrix: sparse.csr_matrix, dwell_ms: Sequence[int]) -> np.ndarray:
    """Cosine distances between pages after smoothing each towards the pages it resembles.

    The smoothed vectors are ``Y = M X`` with ``M = I + (SMOOTHING / n) S W`` (``S`` the
    page similarities ``X Xᵀ``, ``W`` the dwell weights), so their similarities
    ``Y Yᵀ = M S Mᵀ`` are computed in page space: O(n³) time and O(n²) memory, whatever
    the vocabulary size.
    """
    count = matrix.shape[0]
    similarity = np.asarray((matrix @ matrix.T).todense(), dtype=float)
    mixing = np.eye(count) + (SMOOTHING / count) * similarity * _weights(dwell_ms)[None, :]
    gram = mixing @ similarity @ mixing.T
    norms = np.sqrt(np.clip(np.diag(gram), 1e-12, None))
    distances = 1.0 - gram / norms[:, None] / norms[None, :]
    np.fill_diagonal(distances, 0.0)
    return np.clip((distances + distances.T) / 2, 0.0, 2.0)


def group_pages(documents: Sequence[str], dwell_ms: Sequence[int]) -> list[int]:
    """Assign each page a group number; groups are numbered by first appearance.

    Args:
        documents: one text per page (see :func:`page_document`).
        dwell_ms: attended time per page, same order.

    Returns:
        Group numbers ``0..k-1`` (``k`` ≤ :data:`MAX_GROUPS`), one per page.
    """
    count = len(documents)
    if count <= 1:
        return [0] * count
    matrix, _ = _matrix(documents)
    if matrix.nnz == 0:
        return [0] * count
    distances = smoothed_distances(matrix, dwell_ms)
    labels = AgglomerativeClustering(
        n_clusters=None, distance_threshold=CUT_DISTANCE, metric="precomputed", linkage="average"
    ).fit_predict(distances)
    if len(set(labels)) > MAX_GROUPS:
        labels = AgglomerativeClustering(
            n_clusters=MAX_GROUPS, metric="precomputed", linkage="average"
        ).fit_predict(distances)
    renumber: dict[int, int] = {}
    return [renumber.setdefault(int(label), len(renumber)) for label in labels]


def common_words(documents: Sequence[str], dwell_ms: Sequence[int], top: int = 3) -> list[str]:
    """The words found in most pages (weighted by dwell): what a one-subject session is about.

    Ties are broken by total frequency, then alphabetically; generic words are skipped.
    """
    weights = _weights(dwell_ms)
    share: defaultdict[str, float] = defaultdict(float)
    frequency: Counter[str] = Counter()
    for weight, document in zip(weights, documents, strict=True):
        words = tokens(document)
        frequency.update(words)
        for word in set(words):
            share[word] += float(weight)
    spelling = _spellings(documents)
    ranked = sorted(
        (w for w in share if w not in GENERIC_WORDS and len(w) > 2),
        key=lambda w: (-share[w], -frequency[w], w),
    )
    return [spelling.get(w, w) for w in ranked[:top]]


def split_subtopics(documents: Sequence[str], max_groups: int = 5) -> list[int]:
    """Split pages that all share one subject into its subtopics, if they have any.

    Used when the whole session is one group: average-linkage clustering on the plain
    TF-IDF cosine distances, with the number of subtopics (2..``max_groups``) chosen by
    the silhouette score; pages with no clear internal structure (best silhouette below
    :data:`MIN_SILHOUETTE`) stay one group.

    Returns:
        Group numbers in order of first appearance (all zero when not split).
    """
    count = len(documents)
    if count < 4:
        return [0] * count
    matrix, _ = _matrix(documents)
    if matrix.nnz == 0:
        return [0] * count
    similarity = np.asarray((matrix @ matrix.T).todense(), dtype=float)
    distances = np.clip(1.0 - similarity, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    best_score, best = MIN_SILHOUETTE, [0] * count
    for k in range(2, min(max_groups, count - 1) + 1):
        labels = AgglomerativeClustering(
            n_clusters=k, metric="precomputed", linkage="average"
        ).fit_predict(distances)
        sizes = np.bincount(labels)
        if (sizes == 1).sum() > 1 or (sizes > 1).sum() < 2:
            continue  # subtopics of one page each explain nothing: want two real ones
        score = float(silhouette_score(distances, labels, metric="precomputed"))
        if score > best_score:
            best_score, best = score, [int(label) for label in labels]
    renumber: dict[int, int] = {}
    return [renumber.setdefault(label, len(renumber)) for label in best]


def describe_groups(
    documents: Sequence[str], dwell_ms: Sequence[int], groups: Sequence[int], top: int = 5
) -> list[GroupTerms]:
    """The words and two-word phrases that set each group apart, weighted by dwell.

    A word's score in a group is its dwell-weighted mean TF-IDF in the group minus its
    mean in the other groups; phrases are adjacent word pairs found in at least two of
    the group's pages (or in its only page), ranked by their words' scores.

    Returns:
        One :class:`GroupTerms` per group number, in group order. Words are shown in the
        spelling most used in the pages (e.g. ``telescope`` rather than its stem).
    """
    count = len(documents)
    n_groups = max(groups, default=-1) + 1
    if count == 0:
        return []
    matrix, vocabulary = _matrix(documents)
    weights = _weights(dwell_ms)
    labels = np.asarray(groups)
    centroids = np.zeros((n_groups, matrix.shape[1]))
    for group in range(n_groups):
        member = np.flatnonzero(labels == group)
        weighted = sparse.diags(weights[member]) @ matrix[member]
        centroids[group] = np.asarray(weighted.sum(0)).ravel() / weights[member].sum()
    spelling = _spellings(documents)
    result: list[GroupTerms] = []
    for group in range(n_groups):
        others = np.delete(centroids, group, axis=0)
        score = centroids[group] - (others.mean(0) if len(others) else 0.0)
        order = [
            i
            for i in np.lexsort((np.arange(len(score)), -score))[:200]
            if score[i] > 0 and vocabulary[i] and vocabulary[i] not in GENERIC_WORDS
        ]
        ranked = [vocabulary[i] for i in order]
        word_score = {vocabulary[i]: float(score[i]) for i in order[:40]}
        members = [documents[i] for i in range(count) if groups[i] == group]
        phrases = _phrases(members, word_score, spelling)
        result.append(GroupTerms([spelling.get(w, w) for w in ranked[:top]], phrases[:top]))
    return result


def _spellings(documents: Sequence[str]) -> dict[str, str]:
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for document in documents:
        for raw in document.lower().split():
            word = raw.strip(".,;:!?()[]\"'“”‘’")
            stemmed = tokens(word)
            if len(stemmed) == 1:
                seen[stemmed[0]][word] += 1
    return {stem_: words.most_common(1)[0][0] for stem_, words in seen.items()}


def _phrases(
    members: list[str], word_score: dict[str, float], spelling: dict[str, str]
) -> list[str]:
    support: Counter[tuple[str, str]] = Counter()
    for document in members:
        support.update(bigrams(document))
    needed = 2 if len(members) > 1 else 1
    candidates = [
        (word_score[a] + word_score[b], pair)
        for pair, seen in support.items()
        if seen >= needed
        and (a := pair[0]) in word_score
        and (b := pair[1]) in word_score
        and a != b
    ]
    candidates.sort(key=lambda item: (-item[0], item[1]))
    return [" ".join(spelling.get(w, w) for w in pair) for _, pair in candidates]
