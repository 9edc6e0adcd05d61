"""Benchmark: how well mind maps recover the topics of mixed browsing sessions.

Builds mixed sessions from the demo corpus (``mindhit/corpus/pages.json``: 48 pages, six
topics with labels): each session takes 2–6 topics, 50–100 % of each topic's pages, in a
shuffled order, with log-uniform dwell times between 2 s and 10 min. It builds every map
with the chosen provider (local by default; ``--provider gemini`` uses the settings, e.g.
a real key) and scores the map's top-level branches against the topic labels with the
adjusted Rand index (ARI; 1.0 = the branches are exactly the topics). One more map is
built from the whole corpus at once.

Figures on the last line (JSON): ``ari`` (mean over the sessions; target ≥ 0.8 with the
local provider), ``ari_min``, ``ari_full_corpus``, ``events_per_s`` (here: *pages* per
second through ``build_mindmap``), and ``ratio`` = ``ari`` / the ARI of a naive baseline
computed in the same run (plain TF-IDF + average-linkage clustering with k chosen by
silhouette, no dwell weighting and no smoothing), i.e. what our grouping adds.

Usage: ``python bench/mindmap_quality.py [--sessions 60] [--seed 7] [--provider local]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.progress import Progress  # noqa: E402
from sklearn.cluster import AgglomerativeClustering  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.metrics import adjusted_rand_score, silhouette_score  # noqa: E402

from mindhit.corpus import CorpusPage, load_pages  # noqa: E402
from mindhit.settings import Settings  # noqa: E402
from processors.ai.base import MindmapPage  # noqa: E402
from processors.ai.factory import provider_from_settings  # noqa: E402
from schema.derived import MindmapNode  # noqa: E402


def make_sessions(pages: list[CorpusPage], count: int, seed: int) -> list[list[MindmapPage]]:
    """``count`` mixed sessions, reproducible from ``seed``."""
    rng = random.Random(seed)
    topics = sorted({page.topic for page in pages})
    sessions = []
    for _ in range(count):
        chosen = rng.sample(topics, rng.randint(2, min(6, len(topics))))
        picked: list[CorpusPage] = []
        for topic in chosen:
            members = [page for page in pages if page.topic == topic]
            picked += rng.sample(members, max(1, round(len(members) * rng.uniform(0.5, 1.0))))
        rng.shuffle(picked)
        sessions.append(
            [
                MindmapPage(
                    url=page.url,
                    title=page.title,
                    text=page.text,
                    dwell_ms=int(math.exp(rng.uniform(math.log(2_000), math.log(600_000)))),
                )
                for page in picked
            ]
        )
    return sessions


def branch_ari(root: MindmapNode, session: list[MindmapPage], topic_of: dict[str, str]) -> float:
    """ARI between the map's top-level branches and the pages' topic labels."""
    branch_of = {leaf.url: b for b, branch in enumerate(root.children) for leaf in branch.children}
    urls = [page.url for page in session]
    return float(adjusted_rand_score([topic_of[u] for u in urls], [branch_of[u] for u in urls]))


def baseline_ari(session: list[MindmapPage], topic_of: dict[str, str]) -> float:
    """The naive grouping: TF-IDF, average linkage, k by silhouette."""
    docs = [f"{page.title}. {page.text}" for page in session]
    matrix = TfidfVectorizer(stop_words="english", sublinear_tf=True).fit_transform(docs).toarray()
    best, labels = -2.0, [0] * len(docs)
    for k in range(2, min(8, len(docs) - 1) + 1):
        found = AgglomerativeClustering(
            n_clusters=k, metric="cosine", linkage="average"
        ).fit_predict(matrix)
        score = silhouette_score(matrix, found, metric="cosine")
        if score > best:
            best, labels = score, list(found)
    return float(adjusted_rand_score([topic_of[p.url] for p in session], labels))


async def run(args: argparse.Namespace) -> dict[str, object]:
    pages = load_pages()
    topic_of = {page.url: page.topic for page in pages}
    sessions = make_sessions(pages, args.sessions, args.seed)
    provider = provider_from_settings(Settings.from_env(), provider=args.provider)
    scores: list[float] = []
    baselines: list[float] = []
    built_pages = 0
    elapsed = 0.0
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task(f"maps ({provider.name})", total=len(sessions) + 1)
            for session in sessions:
                started = time.perf_counter()
                root = await provider.build_mindmap(session)
                elapsed += time.perf_counter() - started
                built_pages += len(session)
                scores.append(branch_ari(root, session, topic_of))
                baselines.append(baseline_ari(session, topic_of))
                progress.advance(task)
            whole = [
                MindmapPage(url=p.url, title=p.title, text=p.text, dwell_ms=60_000) for p in pages
            ]
            full_root = await provider.build_mindmap(whole)
            full = branch_ari(full_root, whole, topic_of)
            progress.advance(task)
    finally:
        await provider.aclose()
    ari = statistics.fmean(scores)
    baseline = statistics.fmean(baselines)
    print(f"provider            {provider.name}")
    print(f"sessions            {len(sessions)} (2-6 topics, {built_pages} pages in all)")
    print(f"ARI mean/median/min {ari:.3f} / {statistics.median(scores):.3f} / {min(scores):.3f}")
    print(f"ARI full corpus     {full:.3f} ({len(full_root.children)} branches for 6 topics)")
    print(f"baseline ARI        {baseline:.3f} (plain TF-IDF + silhouette)")
    print(f"pages/s             {built_pages / elapsed:,.0f}")
    return {
        "bench": "mindmap_quality",
        "provider": provider.name,
        "sessions": len(sessions),
        "ari": round(ari, 4),
        "ari_min": round(min(scores), 4),
        "ari_full_corpus": round(full, 4),
        "baseline_ari": round(baseline, 4),
        "events_per_s": round(built_pages / elapsed, 1),
        "events_are": "pages",
        "ratio": round(ari / baseline, 3) if baseline > 0 else None,
        "target_ari": 0.8,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=60)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--provider", choices=["local", "gemini"], default="local")
    result = asyncio.run(run(parser.parse_args()))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
