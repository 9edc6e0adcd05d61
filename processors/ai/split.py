"""Splitting a branch that no word holds together (the grouping's last step).

Why: two near-neighbour subjects written in one register (cycling and marathon training:
"training plan", "base", "pacing", one guide template) look as alike to the similarity
as one subject's pages do, so the eigengap sees one branch and the merge keeps it. What
still tells them apart is that a one-subject branch has a **core word**: a word that
most of its pages use ("garden", "espresso"), while the merged pair shares only the
register ("training" on half the pages) and each side has its own ("running", "ride").
:func:`core_word_score` measures that: over the branch's words, the share of its pages
using the word times the word's rarity (:func:`processors.ai.features.rarity`). A branch
of :data:`MIN_SPLIT_PAGES` pages or more scoring below the threshold is cut in two at the
Fiedler vector of its own similarity graph (:func:`fiedler_cut`).

The threshold (``ClusterParams.core_threshold``, 0.4) is an absolute level with a narrow
margin (see the README, "mind map"): in the tuning half, merged cycling-and-marathon
branches score 0.38–0.41; the demo corpus's short one-topic finance branches score 0.43,
so a threshold of 0.43 would cut those.
All functions are pure and deterministic.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from processors.ai.features import rarity

__all__ = ["MIN_SPLIT_PAGES", "core_word_score", "fiedler_cut", "split_coreless_groups"]

MIN_SPLIT_PAGES = 4
"""Smallest branch the split looks at (each side keeps two pages or more)."""


def core_word_score(bags: Sequence[Mapping[str, float]], members: Sequence[int]) -> float:
    """How strongly one word holds a group of pages together.

    The highest, over the words of the members' ``bags`` (:func:`weighted_words`), of the
    share of members using the word times its :func:`rarity`: 1 for a subject word on
    every page, about 0.6 for an everyday word on every page, 0 for no words.
    """
    if not members:
        return 0.0
    used = Counter(word for index in members for word in bags[index])
    return max((n / len(members) * rarity(word) for word, n in used.items()), default=0.0)


def fiedler_cut(
    similarity: np.ndarray, members: Sequence[int], floor: float
) -> tuple[list[int], list[int]] | None:
    """The members in two by the sign of the Fiedler vector of their own graph.

    Links below ``floor`` are dropped as in the grouping. ``None`` when a member links to
    no other member or a side would have fewer than two pages.
    """
    rows = np.asarray(members, dtype=int)
    adjacency = similarity[np.ix_(rows, rows)].copy()
    np.fill_diagonal(adjacency, 0.0)
    adjacency = np.where(adjacency >= floor, adjacency, 0.0)
    degree = adjacency.sum(1)
    if len(rows) < MIN_SPLIT_PAGES or (degree <= 0).any():
        return None
    scale = 1.0 / np.sqrt(degree)
    laplacian = np.eye(len(rows)) - adjacency * scale[:, None] * scale[None, :]
    fiedler = np.linalg.eigh(laplacian)[1][:, 1] * scale
    if fiedler[0] > 0:  # an eigenvector's sign is arbitrary (it differs between BLAS
        fiedler = -fiedler  # builds): the first member's side comes first, on every machine
    first = [int(i) for i in rows[fiedler < 0]]
    second = [int(i) for i in rows[fiedler >= 0]]
    return (first, second) if min(len(first), len(second)) >= 2 else None


def split_coreless_groups(
    similarity: np.ndarray,
    bags: Sequence[Mapping[str, float]],
    labels: Sequence[int],
    threshold: float,
    floor: float,
) -> list[int]:
    """Cut each group without a core word in two; other groups stay as they are.

    Steps: for each group of :data:`MIN_SPLIT_PAGES` pages or more whose
    :func:`core_word_score` is below ``threshold``, its :func:`fiedler_cut` (when there
    is one) moves the second side to a new group number. A side is not cut again.

    Returns:
        One group number per page; every new group lies inside one group of ``labels``.
    """
    result = [int(label) for label in labels]
    members: dict[int, list[int]] = {}
    for index, label in enumerate(result):
        members.setdefault(label, []).append(index)
    fresh = max(result, default=-1) + 1
    for group in members.values():
        if len(group) < MIN_SPLIT_PAGES or core_word_score(bags, group) >= threshold:
            continue
        cut = fiedler_cut(similarity, group, floor)
        if cut is None:
            continue
        for index in cut[1]:
            result[index] = fresh
        fresh += 1
    return result
