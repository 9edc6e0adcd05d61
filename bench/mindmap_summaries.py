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
- ``chars``: the mean length of the summaries of those branches;
- ``weak``: the share of the subjects listed by the summaries of branches of three or
  more pages that do not read as the noun phrase naming their page (``weak_subjects``:
  how many were listed). A listed subject is traced to the member page whose title (or
  else headings) holds it, and is weak when (a) its last word is one the page's text
  uses mostly as a verb or gerund ("Choosing") or its title after "how to" ("Dice"), never
  but in front of one same word ("compound"), or a time, number or measure word
  (:mod:`processors.ai.wordroles`, the page topics' cue; the URL does not excuse it
  here), or (b) it is a strict prefix of a longer run of the title's content words
  (stop words that name things count: "interest") that ends in a noun by that cue
  ("chewy chocolate chip" of "Chewy Chocolate Chip Cookies", "compound" of "Compound
  Interest Explained"). Each weak subject is printed.

``--demo`` also prints the branch summaries of the demo corpus's sessions
(``mindhit demo``'s plan, seed 7); ``--demo-seeds 20`` gives the weak-subject figure
of the 120 sessions ``mindhit demo`` plans with seeds 0–19 (seen data: the tests' cases
come from them; ``demo_weak``). Last line (JSON): the figures of both halves
(``heldout_…``) and the sessions per half.

Usage: ``python bench/mindmap_summaries.py [--sessions 60] [--tune-only] [--demo]
[--demo-seeds 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # noqa: E402

from bench.mindmap_quality import SEEDS, _pages  # noqa: E402
from bench.support.mindmap_naming import demo_sessions as seeded_demo_sessions  # noqa: E402
from bench.support.mindmap_naming import leaves, stem_key  # noqa: E402
from mindhit.cli.demo import plan_sessions  # noqa: E402
from mindhit.corpus import load_pages  # noqa: E402
from processors.ai.base import MindmapPage  # noqa: E402
from processors.ai.features import headings, main_title  # noqa: E402
from processors.ai.local import LocalProvider  # noqa: E402
from processors.ai.text import GENERIC_WORDS, content_runs, stem  # noqa: E402
from processors.ai.wordroles import NOUN_STOP_WORDS, modifiers, title_verbs, uses, weak_head  # noqa: E402
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


_COUNTED = re.compile(r" and \d+ more pages?\.$")


def listed_subjects(summary: str) -> list[str]:
    """The items of a subject list ("A, B, C and 3 more pages." → A, B, C)."""
    counted = _COUNTED.search(summary)
    body = summary[: counted.start()] if counted else summary.removesuffix(".")
    items = body.split(", ")
    if not counted:
        items[-1:] = items[-1].rsplit(" and ", 1)
    return [item.strip() for item in items if item.strip()]


def _keys(words: Sequence[str]) -> list[str]:
    return [stem(w.lower()) for w in words]


def _runs_at(subject: list[str], runs: list[list[str]]) -> tuple[list[str], int] | None:
    """The content run holding ``subject`` (stems) and the index just past it."""
    for run in runs:
        keys = _keys(run)
        for start in range(len(keys) - len(subject) + 1):
            if keys[start : start + len(subject)] == subject:
                return run, start + len(subject)
    return None


def weak_reason(subject: str, page: MindmapPage) -> str | None:
    """Why ``subject`` does not read as the noun phrase naming ``page`` (module doc)."""
    words = _keys(subject.split())
    roles = uses(page.text, compounds=True)
    verbs = roles.verbs | title_verbs(main_title(page.title))
    only_before = modifiers(page.text)

    def weak(word: str) -> str | None:
        if weak_head((word,), verbs, set()):
            return "verb or time word"
        return "modifier" if word in only_before else None

    why = weak(words[-1])
    if why:
        return why
    found = _runs_at(words, content_runs(main_title(page.title), keep=NOUN_STOP_WORDS))
    if found is not None:
        run, end = found
        tail = _keys(run[end:])
        if any(k not in GENERIC_WORDS and weak(k) is None for k in tail):
            return "prefix of " + " ".join(run)
    return None


def subject_page(subject: str, members: list[MindmapPage]) -> MindmapPage | None:
    """The member whose title (else headings) holds ``subject``, most attended first."""
    words = _keys(subject.split())
    ordered = sorted(members, key=lambda p: -p.dwell_ms)
    for source in (lambda p: [p.title], lambda p: headings(p.text)):
        for page in ordered:
            runs = [r for text in source(page) for r in content_runs(text, keep=NOUN_STOP_WORDS)]
            if _runs_at(words, runs):
                return page
    return None


def weak_subjects(
    roots: list[MindmapNode], pages: dict[str, MindmapPage], label: str
) -> dict[str, float]:
    """The share of listed subjects (branches of 3+ pages) that are weak; prints each."""
    listed = weak = 0
    for root in roots:
        for branch in root.children:
            members = [pages[url] for url in leaves(branch)]
            if len(members) < 3:
                continue
            subjects = listed_subjects(branch.summary)
            traced = [(s, subject_page(s, members)) for s in subjects]
            if len(subjects) < 2 or any(page is None for _, page in traced):
                continue  # a sentence, not a list
            for subject, page in traced:
                assert page is not None
                listed += 1
                why = weak_reason(subject, page)
                if why:
                    weak += 1
                    print(f"  [{label} weak] {subject!r} ({why}) of {page.title!r}")
    return {"weak": weak / listed if listed else 0.0, "weak_subjects": listed}


async def run_half(provider: LocalProvider, half: str, count: int) -> dict[str, float]:
    """Build the maps of one half's sessions and score their summaries."""
    roots: list[MindmapNode] = []
    pages: dict[str, MindmapPage] = {}
    for session in make_sessions(half, count, SEEDS[half]):  # type: ignore[arg-type]
        read = _pages(session)
        roots.append(await provider.build_mindmap(read))
        pages.update({p.url: p for p in read})
    figures = branch_figures(roots, {url: p.title for url, p in pages.items()})
    figures.update(weak_subjects(roots, pages, half))
    print(
        f"[{half}] {figures['branches']:.0f} branches of 2+ pages: coverage "
        f"{figures['coverage']:.3f} (3+ pages {figures['coverage_3']:.3f}), about one page "
        f"at most {figures['one_page']:.3f}, {figures['chars']:.0f} characters; weak "
        f"subjects {figures['weak']:.3f} of {figures['weak_subjects']:.0f}"
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


async def run_demo_seeds(provider: LocalProvider, seeds: int) -> dict[str, float]:
    """The weak-subject figure of the demo's sessions, seeds 0…``seeds``-1 (seen data)."""
    roots: list[MindmapNode] = []
    pages: dict[str, MindmapPage] = {}
    for read, _ in seeded_demo_sessions(range(seeds)):
        roots.append(await provider.build_mindmap(read))
        pages.update({p.url: p for p in read})
    figures = weak_subjects(roots, pages, "demo")
    print(
        f"[demo seeds 0-{seeds - 1}] weak subjects {figures['weak']:.3f} of "
        f"{figures['weak_subjects']:.0f}"
    )
    return figures


async def run(args: argparse.Namespace) -> dict[str, object]:
    provider = LocalProvider()
    result: dict[str, object] = {"bench": "mindmap_summaries", "sessions": args.sessions}
    try:
        halves = ["tune"] if args.tune_only else ["tune", "heldout"]
        for half in halves:
            figures = await run_half(provider, half, args.sessions)
            prefix = "" if half == "tune" else "heldout_"
            result.update({f"{prefix}{k}": round(v, 4) for k, v in figures.items()})
        if args.demo_seeds:
            figures = await run_demo_seeds(provider, args.demo_seeds)
            result.update({f"demo_{k}": round(v, 4) for k, v in figures.items()})
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
    parser.add_argument("--demo-seeds", type=int, default=0, help="weak subjects of demo seeds")
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
