"""Grouping a session's pages by subject, with the number of groups read from the data.

Why this shape: a browsing session holds 3 to a few hundred pages on 1 to a handful of
subjects, pages share everyday words across subjects and their lengths differ wildly.
Two similarities are blended: weighted words
(:func:`processors.ai.features.page_vectors`, titles and headings first, the body's lead
only, sublinear counts, rare words first) and character grams of the titles' content
words (:func:`processors.ai.features.title_similarity`). With word vectors at hand
(:mod:`processors.ai.wordvectors`), a third view joins them at ``vector_blend``: the
titles' meaning (:func:`processors.ai.features.title_vector_similarity`), which links
words that share no letters; without them the first two are the whole similarity. Pairs
that share less than ``link_floor`` are not linked at all (a stray everyday word is not
a subject), which gives a similarity graph. The number of groups comes from the
**eigengap** of that graph's normalized Laplacian: eigenvalues are read capped at 1
(those of 1 and above describe no grouping; before they were left out, a session of 6
topics split into 18 branches, and the gap up to a value above 1 made a 5-page topic two
branches), and the count is the *largest* one whose gap reaches :data:`GAP_SHARE` of the
largest gap (two gaps about as large mean the finer grouping is as real as the coarser
one), never fewer than the graph's connected components. Pages are grouped in the
spectral embedding by average linkage. Then a page left alone joins the branch it is
most similar to when that link is stronger than 95 % of the links between pages of
different branches in the same session (a threshold read from the session, not a
constant); a page unlike all others stays alone. Last, two branches whose pages are
about as alike across the two as inside each (:func:`group_affinity` above
``merge_affinity``) become one: a topic whose pages link weakly among themselves
otherwise splits along its strongest pair. Then a group of four pages or more that no
word holds together (:func:`processors.ai.split.split_coreless_groups`, below
``core_threshold``) is cut in two: two near-neighbour subjects merged into one.

Measured figures (tuning half, cross-validation, held-out half) are in the README and
``bench/mindmap_quality.py``. All functions are pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np
from scipy.sparse.csgraph import connected_components
from sklearn.cluster import AgglomerativeClustering

from processors.ai.features import (
    WordLookup,
    page_vectors,
    title_similarity,
    title_vector_similarity,
    weighted_words,
)
from processors.ai.split import split_coreless_groups

__all__ = [
    "DEFAULT_PARAMS",
    "GAP_SHARE",
    "LONE_PERCENTILE",
    "ClusterParams",
    "choose_groups",
    "eigengap_count",
    "group_affinity",
    "group_pages",
    "merge_close_groups",
    "merge_lone_pages",
    "session_bags",
    "session_similarity",
    "spectral_groups",
]

LONE_PERCENTILE = 95.0
"""A lone page joins a branch when its link beats this share of the cross-branch links."""

GAP_SHARE = 0.8
"""The largest count whose eigengap is at least this share of the largest gap wins."""


class ClusterParams(msgspec.Struct, frozen=True, kw_only=True):
    """The constants of the grouping (the bench cross-validates the first two on a grid)."""

    link_floor: float = 0.03
    """Blended similarity below which two pages are not linked in the graph."""
    title_blend: float = 0.5
    """Share of the title character-gram similarity in the blend (the rest: words)."""
    merge_affinity: float = 0.35
    """Two groups merge when their :func:`group_affinity` is above this."""
    vector_blend: float = 0.15
    """Share of the titles' word-vector similarity in the blend, when vectors are at hand."""
    vector_threshold: float = 0.6
    """Cosine of two titles' vectors at and below which they are not alike at all."""
    core_threshold: float = 0.4
    """A group whose :func:`processors.ai.split.core_word_score` is below this is cut in two."""


DEFAULT_PARAMS = ClusterParams()


def session_similarity(
    titles: Sequence[str],
    texts: Sequence[str],
    urls: Sequence[str],
    params: ClusterParams = DEFAULT_PARAMS,
    lookup: WordLookup | None = None,
    bags: Sequence[dict[str, float]] | None = None,
) -> np.ndarray:
    """The blended page-by-page similarity of one session (symmetric, 1 on the diagonal).

    ``lookup`` gives word vectors; ``None`` leaves the word-vector view out. ``bags`` are
    the pages' :func:`weighted_words` when the caller has them already.
    """
    if bags is None:
        bags = session_bags(titles, texts, urls)
    vectors, _ = page_vectors(bags)
    words = vectors @ vectors.T
    blend = params.title_blend
    blended = (1 - blend) * words + blend * title_similarity(titles, urls)
    if lookup is not None:
        meaning = title_vector_similarity(titles, urls, lookup, params.vector_threshold)
        blended = (1 - params.vector_blend) * blended + params.vector_blend * meaning
    np.fill_diagonal(blended, 1.0)
    return np.clip((blended + blended.T) / 2, 0.0, 1.0)


def session_bags(
    titles: Sequence[str], texts: Sequence[str], urls: Sequence[str]
) -> list[dict[str, float]]:
    """Each page's :func:`weighted_words`."""
    return [weighted_words(t, x, u) for t, x, u in zip(titles, texts, urls, strict=True)]


def _renumber(labels: Sequence[int]) -> list[int]:
    seen: dict[int, int] = {}
    return [seen.setdefault(int(label), len(seen)) for label in labels]


def choose_groups(
    similarity: np.ndarray,
    floor: float = DEFAULT_PARAMS.link_floor,
    merge_affinity: float = DEFAULT_PARAMS.merge_affinity,
) -> list[int]:
    """Group pages from their similarity matrix; the count is the graph's eigengap.

    Steps: 1. link pages whose similarity reaches ``floor`` (weight = similarity); a
    page linked to none is a group of its own; 2. eigenvalues of the normalized
    Laplacian of the linked pages, capped at 1; 3. ``k`` = the largest count whose gap
    to the next eigenvalue reaches :data:`GAP_SHARE` of the largest such gap, among
    the eigenvalues below 1, at least the number of connected components; 4. average
    linkage on the rows of the first ``k`` eigenvectors (unit length) gives the groups;
    5. :func:`merge_lone_pages`; 6. :func:`merge_close_groups`.

    Returns:
        Group numbers ``0..k-1`` in order of first appearance, one per page.
    """
    count = len(similarity)
    adjacency = np.where(similarity >= floor, similarity, 0.0)
    np.fill_diagonal(adjacency, 0.0)
    linked = np.flatnonzero(adjacency.sum(1) > 0)
    labels = np.arange(count) + count  # unlinked pages: one group each
    if len(linked) >= 2:
        labels[linked] = spectral_groups(adjacency[np.ix_(linked, linked)])
    lone_merged = merge_lone_pages(similarity, labels.tolist(), floor)
    return _renumber(merge_close_groups(similarity, lone_merged, merge_affinity, floor))


def group_affinity(similarity: np.ndarray, a: np.ndarray, b: np.ndarray, floor: float) -> float:
    """How alike two groups of two or more pages are, relative to how alike each is inside.

    The mean similarity across the groups over the geometric mean of the two mean
    similarities inside them (each at least ``floor``, so two unlinked pages do not make
    every neighbour look close): about 1 when the two are as alike across as inside,
    near 0 for unrelated subjects.
    """

    def inside(members: np.ndarray) -> float:
        block = similarity[np.ix_(members, members)]
        mean = (block.sum() - np.trace(block)) / (len(members) * (len(members) - 1))
        return max(float(mean), floor)

    across = float(similarity[np.ix_(a, b)].mean())
    return across / np.sqrt(inside(a) * inside(b))


def merge_close_groups(
    similarity: np.ndarray, labels: Sequence[int], threshold: float, floor: float
) -> list[int]:
    """Merge the two groups of highest :func:`group_affinity` while it is above ``threshold``.

    Only groups of two or more pages take part (a lone page is
    :func:`merge_lone_pages`' business); the merged group keeps the first one's number.
    """
    result = [int(label) for label in labels]
    while True:
        members: dict[int, list[int]] = {}
        for index, label in enumerate(result):
            members.setdefault(label, []).append(index)
        groups = [(label, np.array(m)) for label, m in members.items() if len(m) >= 2]
        pairs = [
            (group_affinity(similarity, a, b, floor), keep, gone)
            for i, (keep, a) in enumerate(groups)
            for gone, b in groups[i + 1 :]
        ]
        best = max(pairs, default=None, key=lambda pair: pair[0])
        if best is None or best[0] <= threshold:
            return result
        result = [best[1] if label == best[2] else label for label in result]


def merge_lone_pages(similarity: np.ndarray, labels: Sequence[int], floor: float) -> list[int]:
    """Move each page that is alone in its group into the group it is most similar to.

    A lone page moves when its strongest link into some group of two or more pages
    beats :data:`LONE_PERCENTILE` % of the links between pages of different such groups
    (and ``floor``); a page unlike every group stays alone (it truly stands apart).
    """
    result = [int(label) for label in labels]
    members: dict[int, list[int]] = {}
    for index, label in enumerate(result):
        members.setdefault(label, []).append(index)
    groups = [np.array(m) for m in members.values() if len(m) >= 2]
    if not groups:
        return result
    between = [
        similarity[np.ix_(a, b)].ravel() for i, a in enumerate(groups) for b in groups[i + 1 :]
    ]
    level = float(np.percentile(np.concatenate(between), LONE_PERCENTILE)) if between else 0.0
    for lone in (m[0] for m in members.values() if len(m) == 1):
        links = [float(similarity[lone, group].max()) for group in groups]
        best = int(np.argmax(links))
        if links[best] >= floor and links[best] > level:
            result[lone] = result[int(groups[best][0])]
    return result


def eigengap_count(values: np.ndarray, components: int) -> int:
    """The number of groups the normalized Laplacian's eigenvalues describe.

    ``values`` are the eigenvalues in ascending order, ``components`` the graph's
    connected components. Eigenvalues of 1 and above describe no grouping: the gap is
    looked for below them, and a gap up to such a value counts only up to 1. The count is
    the largest one whose gap reaches :data:`GAP_SHARE` of the largest such gap, at least
    ``components`` and at most the number of eigenvalues.
    """
    count = len(values)
    if components >= count:
        return count
    gaps = np.diff(np.minimum(values, 1.0))
    top = max(components + 1, min(count, int((values < 1.0).sum()) + 1))
    counts = range(components, top)
    widest = max(gaps[g - 1] for g in counts)
    return max(g for g in counts if gaps[g - 1] >= GAP_SHARE * widest)


def spectral_groups(adjacency: np.ndarray, count: int | None = None) -> list[int]:
    """Group the pages of a graph without unlinked pages in its spectral embedding.

    ``count`` groups, or (``None``) as many as :func:`eigengap_count` reads from the
    normalized Laplacian; average linkage on the rows of the first ``count``
    eigenvectors (unit length). ``count`` is a diagnostic's way to see the grouping at
    another count (``bench/mindmap_session.py``).
    """
    size = len(adjacency)
    scale = 1.0 / np.sqrt(adjacency.sum(1))
    laplacian = np.eye(size) - adjacency * scale[:, None] * scale[None, :]
    values, vectors = np.linalg.eigh(laplacian)
    components = int(connected_components(adjacency > 0)[0])
    if components >= size:
        return list(range(size))
    k = eigengap_count(values, components) if count is None else max(1, min(count, size))
    if k <= 1:
        return [0] * size
    embedding = vectors[:, :k]
    embedding = embedding / np.maximum(np.linalg.norm(embedding, axis=1, keepdims=True), 1e-12)
    found = AgglomerativeClustering(n_clusters=k, linkage="average", metric="cosine").fit_predict(
        embedding
    )
    return [int(label) for label in found]


def group_pages(
    titles: Sequence[str],
    texts: Sequence[str],
    urls: Sequence[str],
    params: ClusterParams = DEFAULT_PARAMS,
    lookup: WordLookup | None = None,
) -> list[int]:
    """Assign each page a group number (``0..k-1``, in order of first appearance).

    ``lookup`` gives word vectors (:func:`processors.ai.wordvectors.load_word_vectors`);
    ``None`` groups by words and title letters alone. Steps: :func:`session_similarity`,
    :func:`choose_groups`, :func:`processors.ai.split.split_coreless_groups`.
    """
    if len(titles) <= 1:
        return [0] * len(titles)
    bags = session_bags(titles, texts, urls)
    similarity = session_similarity(titles, texts, urls, params, lookup, bags)
    groups = choose_groups(similarity, params.link_floor, params.merge_affinity)
    split = split_coreless_groups(
        similarity, bags, groups, params.core_threshold, params.link_floor
    )
    return _renumber(split)
