"""Grouping a session's pages by subject, with the number of groups read from the data.

Why this shape: a browsing session holds 3 to a few hundred pages on 1 to a handful of
subjects, pages share everyday words across subjects and their lengths differ wildly.
Two similarities are blended: weighted words (:func:`processors.ai.features.page_vectors`,
titles and headings first, the body's lead only, sublinear counts, rare words first) and
character grams of the titles' content words
(:func:`processors.ai.features.title_similarity`). Pairs that share less than
``link_floor`` are not linked at all (a stray everyday word is not a subject), which
gives a similarity graph. The number of groups is the **eigengap** of that graph's
normalized Laplacian, looked for only among the eigenvalues below 1 (those are the ones
that describe groups of pages linked more inside than outside; the larger ones describe
no grouping and once made a session of 6 topics split into 18 branches), never fewer
than its connected components. Pages are grouped in the spectral embedding by average
linkage. Last, a page left alone joins the branch it is most similar to when that link
is stronger than 95 % of the links between pages of different branches in the same
session (a threshold read from the session, not a constant); a page unlike all others
stays alone.

Measured figures (tuning half, cross-validation, held-out half) are in the README and
``bench/mindmap_quality.py``. All functions are pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np
from scipy.sparse.csgraph import connected_components
from sklearn.cluster import AgglomerativeClustering

from processors.ai.features import page_vectors, title_similarity, weighted_words

__all__ = [
    "DEFAULT_PARAMS",
    "LONE_PERCENTILE",
    "ClusterParams",
    "choose_groups",
    "group_pages",
    "merge_lone_pages",
    "session_similarity",
]

LONE_PERCENTILE = 95.0
"""A lone page joins a branch when its link beats this share of the cross-branch links."""


class ClusterParams(msgspec.Struct, frozen=True, kw_only=True):
    """The two constants of the grouping (the bench cross-validates them on a grid)."""

    link_floor: float = 0.03
    """Blended similarity below which two pages are not linked in the graph."""
    title_blend: float = 0.5
    """Share of the title character-gram similarity in the blend (the rest: words)."""


DEFAULT_PARAMS = ClusterParams()


def session_similarity(
    titles: Sequence[str],
    texts: Sequence[str],
    urls: Sequence[str],
    title_blend: float = DEFAULT_PARAMS.title_blend,
) -> np.ndarray:
    """The blended page-by-page similarity of one session (symmetric, 1 on the diagonal)."""
    bags = [weighted_words(t, x, u) for t, x, u in zip(titles, texts, urls, strict=True)]
    vectors, _ = page_vectors(bags)
    words = vectors @ vectors.T
    blended = (1 - title_blend) * words + title_blend * title_similarity(titles, urls)
    np.fill_diagonal(blended, 1.0)
    return np.clip((blended + blended.T) / 2, 0.0, 1.0)


def _renumber(labels: Sequence[int]) -> list[int]:
    seen: dict[int, int] = {}
    return [seen.setdefault(int(label), len(seen)) for label in labels]


def choose_groups(similarity: np.ndarray, floor: float = DEFAULT_PARAMS.link_floor) -> list[int]:
    """Group pages from their similarity matrix; the count is the graph's eigengap.

    Steps: 1. link pages whose similarity reaches ``floor`` (weight = similarity); a
    page linked to none is a group of its own; 2. eigenvalues of the normalized
    Laplacian of the linked pages; 3. ``k`` = the position of the largest gap between
    consecutive eigenvalues among those below 1, at least the number of connected
    components; 4. average linkage on the rows of the first ``k`` eigenvectors (unit
    length) gives the groups; 5. :func:`merge_lone_pages`.

    Returns:
        Group numbers ``0..k-1`` in order of first appearance, one per page.
    """
    count = len(similarity)
    adjacency = np.where(similarity >= floor, similarity, 0.0)
    np.fill_diagonal(adjacency, 0.0)
    linked = np.flatnonzero(adjacency.sum(1) > 0)
    labels = np.arange(count) + count  # unlinked pages: one group each
    if len(linked) >= 2:
        labels[linked] = _spectral(adjacency[np.ix_(linked, linked)])
    return _renumber(merge_lone_pages(similarity, labels.tolist(), floor))


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


def _spectral(adjacency: np.ndarray) -> list[int]:
    count = len(adjacency)
    scale = 1.0 / np.sqrt(adjacency.sum(1))
    laplacian = np.eye(count) - adjacency * scale[:, None] * scale[None, :]
    values, vectors = np.linalg.eigh(laplacian)
    components = int(connected_components(adjacency > 0)[0])
    if components >= count:
        return list(range(count))
    gaps = np.diff(values)
    # Eigenvalues of 1 and above describe no grouping: look for the gap below them.
    top = max(components + 1, min(count, int((values < 1.0).sum()) + 1))
    k = max(range(components, top), key=lambda g: (gaps[g - 1], -g))
    if k <= 1:
        return [0] * count
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
) -> list[int]:
    """Assign each page a group number (``0..k-1``, in order of first appearance)."""
    if len(titles) <= 1:
        return [0] * len(titles)
    similarity = session_similarity(titles, texts, urls, params.title_blend)
    return choose_groups(similarity, params.link_floor)
