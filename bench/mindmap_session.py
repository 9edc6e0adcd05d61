"""Diagnostic: one tuning session of the mind-map bench, step by step (why did it fail?).

``bench/mindmap_quality.py`` says *which* sessions score low; this says *why*. For one
session of the tuning half (by default the lowest ARI of the bench's 60) it prints its
pages by true topic (title, URL, words), the normalized Laplacian's first eigenvalues and
the count the eigengap reads from them, the grouping at that count and at the counts
around it (ARI before and after the merge of close branches, and each group against the
true topics), and how alike each two true topics look to the merge
(:func:`processors.ai.cluster.group_affinity` against ``merge_affinity``). ``--matrix``
adds the similarity matrix, pages ordered by topic.

Only the tuning half is offered: the held-out half is not looked at while tuning.

Usage: ``python bench/mindmap_session.py [--index N] [--count 60] [--seed 7]
[--no-vectors] [--matrix]``
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from scipy.sparse.csgraph import connected_components  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from processors.ai.cluster import (  # noqa: E402
    DEFAULT_PARAMS,
    eigengap_count,
    group_affinity,
    group_pages,
    merge_close_groups,
    merge_lone_pages,
    session_similarity,
    spectral_groups,
)
from processors.ai.features import WordLookup  # noqa: E402
from processors.ai.wordvectors import load_word_vectors  # noqa: E402
from tests.unit.corpus.mixed import Session, make_sessions  # noqa: E402


def _similarity(session: Session, lookup: WordLookup | None) -> np.ndarray:
    pages = session.pages
    return session_similarity(
        [p.title for p in pages], [p.text for p in pages], [p.url for p in pages], lookup=lookup
    )


def _ari(session: Session, groups: list[int]) -> float:
    return float(adjusted_rand_score([p.topic for p in session.pages], groups))


def _worst(sessions: list[Session], lookup: WordLookup | None) -> int:
    def ari(session: Session) -> float:
        pages = session.pages
        groups = group_pages(
            [p.title for p in pages],
            [p.text for p in pages],
            [p.url for p in pages],
            DEFAULT_PARAMS,
            lookup,
        )
        return _ari(session, groups)

    return min(range(len(sessions)), key=lambda index: ari(sessions[index]))


def _groups_at(similarity: np.ndarray, count: int | None) -> tuple[list[int], list[int]]:
    """The grouping before and after the merge of close branches, as the provider builds it."""
    floor = DEFAULT_PARAMS.link_floor
    adjacency = np.where(similarity >= floor, similarity, 0.0)
    np.fill_diagonal(adjacency, 0.0)
    linked = np.flatnonzero(adjacency.sum(1) > 0)
    labels = np.arange(len(similarity)) + len(similarity)
    if len(linked) >= 2:
        labels[linked] = spectral_groups(adjacency[np.ix_(linked, linked)], count)
    lone = merge_lone_pages(similarity, labels.tolist(), floor)
    return lone, merge_close_groups(similarity, lone, DEFAULT_PARAMS.merge_affinity, floor)


def _describe(session: Session, groups: list[int]) -> str:
    members: dict[int, Counter[str]] = {}
    for page, group in zip(session.pages, groups, strict=True):
        members.setdefault(group, Counter())[page.topic] += 1
    return "; ".join(
        "{" + ", ".join(f"{t} {n}" for t, n in c.most_common()) + "}" for c in members.values()
    )


def report(session: Session, lookup: WordLookup | None, matrix: bool) -> dict[str, object]:
    """Print the session's pages, spectrum, groupings around the eigengap and topic pairs;
    return the figures (for the JSON last line)."""
    order = sorted(range(len(session.pages)), key=lambda i: (session.pages[i].topic, i))
    for index in order:
        page = session.pages[index]
        print(f"  {index:2d} {page.topic:14s} {len(page.text.split()):4d}w  {page.title}")
        print(f"     {page.url}")
    similarity = _similarity(session, lookup)
    adjacency = np.where(similarity >= DEFAULT_PARAMS.link_floor, similarity, 0.0)
    np.fill_diagonal(adjacency, 0.0)
    linked = np.flatnonzero(adjacency.sum(1) > 0)
    graph = adjacency[np.ix_(linked, linked)]
    scale = 1.0 / np.sqrt(graph.sum(1))
    values = np.linalg.eigvalsh(np.eye(len(graph)) - graph * scale[:, None] * scale[None, :])
    components = int(connected_components(graph > 0)[0])
    chosen = eigengap_count(values, components)
    print(f"eigenvalues {np.round(values[:8], 3).tolist()}; eigengap count {chosen}")
    aris: dict[str, list[float]] = {}
    for count in range(max(1, chosen - 1), chosen + 3):
        before, after = _groups_at(similarity, count)
        aris[str(count)] = [round(_ari(session, before), 3), round(_ari(session, after), 3)]
        print(
            f"  count {count}: ARI {_ari(session, before):.3f} before the merge, "
            f"{_ari(session, after):.3f} after: {_describe(session, after)}"
        )
    topics = session.topics
    affinities: dict[str, float] = {}
    print(f"true topics' affinity (merge above {DEFAULT_PARAMS.merge_affinity}):")
    for i, first in enumerate(topics):
        for second in topics[i + 1 :]:
            a = np.array([k for k, p in enumerate(session.pages) if p.topic == first])
            b = np.array([k for k, p in enumerate(session.pages) if p.topic == second])
            if len(a) >= 2 and len(b) >= 2:
                value = group_affinity(similarity, a, b, DEFAULT_PARAMS.link_floor)
                affinities[f"{first} / {second}"] = round(float(value), 3)
                print(f"  {first} / {second}: {value:.3f}")
    if matrix:
        with np.printoptions(linewidth=250, precision=2, suppress=True):
            print(similarity[np.ix_(order, order)])
    return {
        "eigenvalues": np.round(values[:8], 3).tolist(),
        "eigengap_count": int(chosen),
        "ari_before_after_merge_by_count": aris,
        "topic_affinity": affinities,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, help="session number (default: the lowest ARI)")
    parser.add_argument("--count", type=int, default=60, help="sessions drawn (the bench's 60)")
    parser.add_argument("--seed", type=int, default=7, help="the bench's tuning seed is 7")
    parser.add_argument("--no-vectors", action="store_true", help="without word vectors")
    parser.add_argument("--matrix", action="store_true", help="print the similarity matrix")
    args = parser.parse_args()
    lookup = None if args.no_vectors else load_word_vectors()
    sessions = make_sessions("tune", args.count, args.seed)
    index = _worst(sessions, lookup) if args.index is None else args.index
    print(f"tuning session #{index} (seed {args.seed}), {len(sessions[index].pages)} pages")
    figures = report(sessions[index], lookup, args.matrix)
    print(json.dumps({"session": index, "pages": len(sessions[index].pages), **figures}))


if __name__ == "__main__":
    main()
