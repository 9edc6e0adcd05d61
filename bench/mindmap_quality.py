"""Benchmark: how well mind maps recover the topics of mixed browsing sessions.

Sessions come from the labelled corpus in ``tests/unit/corpus/labelled/`` (twelve topics
with deliberately overlapping everyday vocabulary, pages from two-line forum replies to
guides with headings; see ``tests/unit/corpus/mixed.py``). Each session has 3–40 pages
from 1–6 topics in a shuffled order with log-uniform dwell times (fixed seeds). The
corpus is split by page into a **tuning** half and a **held-out** half; tuning looked
only at the first (``--tune-only`` skips the second).

For every map it scores the top-level branches against the true topics with the adjusted
Rand index (ARI; 1.0 = the branches are exactly the topics; every leaf below a branch
counts for it), counts branches against topics, and computes the **label score**: the
share of branches whose label shares a word stem with the name of the topic most of
the branch's pages belong to (e.g. "Espresso extraction" for "Espresso brewing").
It also times a 40-page, 6-topic session (target < 1 s with the local provider).

Last line (JSON): ``ari_mean``, ``ari_min``, ``label_score`` (tuning half),
``heldout_ari_mean``, ``heldout_ari_min``, ``heldout_label_score``, ``sessions`` (per
half), ``map_40_pages_s``, and ``ratio`` = ``ari_mean`` / the ARI of a naive baseline
(plain TF-IDF of title + text, average linkage, k by silhouette) on the same sessions.
Targets on the repository corpus: mean ARI ≥ 0.9, minimum ≥ 0.6, label score ≥ 0.8.

Usage: ``python bench/mindmap_quality.py [--sessions 60] [--provider local] [--tune-only]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.cluster import AgglomerativeClustering  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.metrics import adjusted_rand_score, silhouette_score  # noqa: E402

from mindhit.settings import Settings  # noqa: E402
from processors.ai.base import AIProvider, MindmapPage  # noqa: E402
from processors.ai.factory import provider_from_settings  # noqa: E402
from schema.derived import MindmapNode  # noqa: E402
from tests.unit.corpus.mixed import Session, make_sessions, topic_names  # noqa: E402

SEEDS = {"tune": 7, "heldout": 1007}
_SUFFIXES = ("ations", "ation", "ings", "ing", "ers", "er", "ed", "es", "s")


def stem_key(word: str) -> str:
    """A crude stem for the label score: lower case, common English suffixes dropped."""
    word = word.lower()
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _stems(text: str) -> set[str]:
    return {stem_key(w) for w in re.findall(r"[A-Za-z][A-Za-z'-]+", text) if len(w) > 2}


def _pages(session: Session) -> list[MindmapPage]:
    return [
        MindmapPage(url=p.url, title=p.title, text=p.text, dwell_ms=d)
        for p, d in zip(session.pages, session.dwell_ms, strict=True)
    ]


def _leaves(node: MindmapNode) -> list[str]:
    if not node.children:
        return [node.url] if node.url else []
    return [url for child in node.children for url in _leaves(child)]


def score(root: MindmapNode, session: Session, names: dict[str, str]) -> tuple[float, int, int]:
    """ARI, labels that name their majority topic, and the number of branches."""
    topic_of = {p.url: p.topic for p in session.pages}
    branch_of = {url: b for b, branch in enumerate(root.children) for url in _leaves(branch)}
    urls = [p.url for p in session.pages]
    ari = float(adjusted_rand_score([topic_of[u] for u in urls], [branch_of[u] for u in urls]))
    named = 0
    for branch in root.children:
        majority = Counter(topic_of[u] for u in _leaves(branch)).most_common(1)[0][0]
        named += bool(_stems(branch.label) & _stems(names[majority]))
    return ari, named, len(root.children)


def baseline_ari(session: Session) -> float:
    """The naive grouping: TF-IDF, average linkage, k by silhouette (1 when n < 4)."""
    docs = [f"{p.title}. {p.text}" for p in session.pages]
    matrix = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(docs).toarray()
    best, labels = -2.0, [0] * len(docs)
    for k in range(2, min(8, len(docs) - 1) + 1):
        found = AgglomerativeClustering(
            n_clusters=k, metric="cosine", linkage="average"
        ).fit_predict(matrix)
        value = silhouette_score(matrix, found, metric="cosine")
        if value > best:
            best, labels = value, list(found)
    return float(adjusted_rand_score([p.topic for p in session.pages], labels))


async def run_half(provider: AIProvider, half: str, count: int, verbose: bool) -> dict[str, float]:
    """Build and score ``count`` sessions of one half; print the spread."""
    names = topic_names()
    aris: list[float] = []
    baselines: list[float] = []
    named = branches = 0
    gaps: Counter[int] = Counter()
    for index, session in enumerate(make_sessions(half, count, SEEDS[half])):  # type: ignore[arg-type]
        root = await provider.build_mindmap(_pages(session))
        ari, good, n_branches = score(root, session, names)
        aris.append(ari)
        baselines.append(baseline_ari(session))
        named += good
        branches += n_branches
        gaps[n_branches - len(session.topics)] += 1
        if verbose:
            labels = " | ".join(b.label for b in root.children)
            print(
                f"  {half} #{index:02d} pages={len(session.pages):2d} "
                f"topics={len(session.topics)} branches={n_branches} ari={ari:.2f}  "
                f"{root.label} :: {labels}"
            )
    cuts = statistics.quantiles(aris, n=10)
    print(
        f"[{half}] sessions {len(aris)}  ARI mean {statistics.fmean(aris):.3f}  min {min(aris):.3f}"
    )
    print(f"[{half}] ARI deciles  " + " ".join(f"{c:.2f}" for c in cuts))
    low, very_low = sum(a < 0.8 for a in aris), sum(a < 0.6 for a in aris)
    print(f"[{half}] sessions with ARI < 0.8: {low}, < 0.6: {very_low}")
    print(
        f"[{half}] branches − topics: "
        + ", ".join(f"{gap:+d}: {n}" for gap, n in sorted(gaps.items()))
    )
    print(f"[{half}] label score {named / branches:.3f} ({named}/{branches} branches)")
    print(f"[{half}] baseline ARI {statistics.fmean(baselines):.3f} (plain TF-IDF + silhouette)")
    return {
        "ari_mean": statistics.fmean(aris),
        "ari_min": min(aris),
        "label_score": named / branches,
        "baseline": statistics.fmean(baselines),
    }


async def time_big_map(provider: AIProvider) -> float:
    """Median seconds to build the map of a 40-page, 6-topic session (5 runs)."""
    big = next(
        s for s in make_sessions(None, 400, 99, min_pages=40, max_pages=40) if len(s.topics) == 6
    )
    times = []
    for _ in range(5):
        started = time.perf_counter()
        await provider.build_mindmap(_pages(big))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def run(args: argparse.Namespace) -> dict[str, object]:
    provider = provider_from_settings(Settings.from_env(), provider=args.provider)
    try:
        tune = await run_half(provider, "tune", args.sessions, args.verbose)
        held = (
            None
            if args.tune_only
            else await run_half(provider, "heldout", args.sessions, args.verbose)
        )
        seconds = await time_big_map(provider)
    finally:
        await provider.aclose()
    print(f"provider {provider.name}; 40-page map built in {seconds * 1000:.0f} ms (median of 5)")
    result: dict[str, object] = {
        "bench": "mindmap_quality",
        "provider": provider.name,
        "sessions": args.sessions,
        "ari_mean": round(tune["ari_mean"], 4),
        "ari_min": round(tune["ari_min"], 4),
        "label_score": round(tune["label_score"], 4),
        "map_40_pages_s": round(seconds, 3),
        "baseline_ari": round(tune["baseline"], 4),
        "ratio": round(tune["ari_mean"] / tune["baseline"], 3) if tune["baseline"] > 0 else None,
        "targets": {"ari_mean": 0.9, "ari_min": 0.6, "label_score": 0.8, "map_40_pages_s": 1.0},
    }
    if held is not None:
        result["heldout_ari_mean"] = round(held["ari_mean"], 4)
        result["heldout_ari_min"] = round(held["ari_min"], 4)
        result["heldout_label_score"] = round(held["label_score"], 4)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=60, help="sessions per half")
    parser.add_argument(
        "--provider", choices=["local", "gemini", "openai", "anthropic"], default="local"
    )
    parser.add_argument("--tune-only", action="store_true", help="skip the held-out half")
    parser.add_argument("--verbose", action="store_true", help="print every session")
    result = asyncio.run(run(parser.parse_args()))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
