"""Benchmark: whether a mind map's branch summaries say what the branch's pages cover.

A branch summary is shown in the map's outline panel and in the Markdown export; a
person expects it to be about the group of pages, not one page's detail. On the same
sessions as ``bench/mindmap_quality.py`` (the labelled corpus, tuning and held-out
halves, the same seeds) the local provider builds every map, and for each branch of two
or more pages it checks which pages the summary mentions: a page counts when the
summary shares a word stem with the page's *own* title words (its title's content words
that are not in every other member's title too: "Espresso" in every title of an
espresso branch says nothing about which page is meant).

Figures per half:

- ``coverage``: the share of a branch's pages the summary mentions, averaged over the
  branches of two or more pages (``coverage_3``: three or more pages);
- ``one_page``: the share of those summaries that mention one page at most;
- ``chars``: the mean length of the summaries of those branches.

``--demo`` also prints the branch summaries of the demo corpus's sessions
(``mindhit demo``'s plan, seed 7). Last line (JSON): the figures of both halves
(``heldout_…``) and the sessions per half.

Usage: ``python bench/mindmap_summaries.py [--sessions 60] [--tune-only] [--demo]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # noqa: E402

from bench.mindmap_naming import leaves, stem_key  # noqa: E402
from bench.mindmap_quality import SEEDS, _pages  # noqa: E402
from mindhit.cli.demo import plan_sessions  # noqa: E402
from mindhit.corpus import load_pages  # noqa: E402
from processors.ai.base import MindmapPage  # noqa: E402
from processors.ai.local import LocalProvider  # noqa: E402
from schema.derived import MindmapNode  # noqa: E402
from schema.events import PageContent  # noqa: E402
from tests.unit.corpus.mixed import make_sessions  # noqa: E402


def _words(text: str) -> set[str]:
    found = "".join(c if c.isalnum() else " " for c in text.lower()).split()
    return {stem_key(w) for w in found if len(w) > 2 and w not in ENGLISH_STOP_WORDS}


def mentioned(summary: str, titles: list[str]) -> list[bool]:
    """For each member title: whether the summary uses one of its own words (module doc)."""
    words = [_words(title) for title in titles]
    shared = set.intersection(*words) if len(words) > 1 else set()
    said = _words(summary)
    return [bool((own - shared) & said) for own in words]


def branch_figures(roots: list[MindmapNode], titles: dict[str, str]) -> dict[str, float]:
    """Coverage, one-page share and length of the summaries of multi-page branches."""
    shares: list[float] = []
    shares_3: list[float] = []
    lengths: list[int] = []
    counts: list[int] = []
    for root in roots:
        for branch in root.children:
            members = [titles[url] for url in leaves(branch)]
            if len(members) < 2:
                continue
            hits = mentioned(branch.summary, members)
            shares.append(sum(hits) / len(hits))
            counts.append(sum(hits))
            if len(members) >= 3:
                shares_3.append(shares[-1])
            lengths.append(len(branch.summary))
    return {
        "coverage": statistics.fmean(shares),
        "coverage_3": statistics.fmean(shares_3) if shares_3 else 0.0,
        "one_page": sum(hits <= 1 for hits in counts) / len(counts),
        "chars": statistics.fmean(lengths),
        "branches": len(shares),
    }


async def run_half(provider: LocalProvider, half: str, count: int) -> dict[str, float]:
    """Build the maps of one half's sessions and score their summaries."""
    roots: list[MindmapNode] = []
    titles: dict[str, str] = {}
    for session in make_sessions(half, count, SEEDS[half]):  # type: ignore[arg-type]
        roots.append(await provider.build_mindmap(_pages(session)))
        titles.update({p.url: p.title for p in session.pages})
    figures = branch_figures(roots, titles)
    print(
        f"[{half}] {figures['branches']:.0f} branches of 2+ pages: coverage "
        f"{figures['coverage']:.3f} (3+ pages {figures['coverage_3']:.3f}), about one page "
        f"at most {figures['one_page']:.3f}, {figures['chars']:.0f} characters"
    )
    return figures


def demo_sessions(count: int = 6, seed: int = 7) -> list[list[MindmapPage]]:
    """The pages ``mindhit demo`` reads in its first ``count`` sessions, dwell until the next."""
    planned = plan_sessions(
        load_pages(), sessions=count, seed=seed, now_ms=1_800_000_000_000, client_id="bench"
    )
    found: list[list[MindmapPage]] = []
    for session in planned:
        reads = [e for e in session.events if isinstance(e, PageContent)]
        ends = [e.ts for e in reads[1:]] + [session.events[-1].ts]
        found.append(
            [
                MindmapPage(url=e.url, title=e.title, text=e.text, dwell_ms=end - e.ts)
                for e, end in zip(reads, ends, strict=True)
            ]
        )
    return found


async def print_demo(provider: LocalProvider) -> None:
    """Each demo session's branches: label, size and summary."""
    for index, pages in enumerate(demo_sessions()):
        root = await provider.build_mindmap(pages)
        print(f"[demo #{index}] {root.label}")
        for branch in root.children:
            print(f'  "{branch.label}" ({len(leaves(branch))} pages): {branch.summary}')


async def run(args: argparse.Namespace) -> dict[str, object]:
    provider = LocalProvider()
    result: dict[str, object] = {"bench": "mindmap_summaries", "sessions": args.sessions}
    try:
        halves = ["tune"] if args.tune_only else ["tune", "heldout"]
        for half in halves:
            figures = await run_half(provider, half, args.sessions)
            prefix = "" if half == "tune" else "heldout_"
            result.update({f"{prefix}{k}": round(v, 4) for k, v in figures.items()})
        if args.demo:
            await print_demo(provider)
    finally:
        await provider.aclose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=60, help="sessions per half")
    parser.add_argument("--tune-only", action="store_true", help="skip the held-out half")
    parser.add_argument("--demo", action="store_true", help="print the demo maps' summaries")
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
