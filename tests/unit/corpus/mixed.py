"""The labelled mixed-topic corpus and its reproducible session generator.

Why it exists: the demo corpus (``mindhit/corpus/pages.json``) has six topics whose
vocabularies barely overlap, so it flatters any clustering. This corpus has twelve
topics written to share everyday words ("temperature", "pressure", "water", "season",
"board", "set", "plan", "balance", "kit", "grind"…) and pages of very different lengths
(two-line forum replies next to long guides with headings). Each topic file in
``labelled/`` starts with ``# topic: <id> | <name>``; each page is ``--- <url>``, a
title line, then its text (headings are short lines of their own, as Mozilla
Readability extracts them).

Pages are split by position within their topic: even positions form the **tuning**
half, odd positions the **held-out** half, so every topic is in both. Only the tuning
half may be looked at while tuning the local provider.
"""

from __future__ import annotations

import math
import random
from functools import cache
from pathlib import Path
from typing import Literal

import msgspec

__all__ = [
    "LabelledPage",
    "Session",
    "load_labelled",
    "make_sessions",
    "topic_names",
]

Half = Literal["tune", "heldout"]
_DIR = Path(__file__).with_name("labelled")


class LabelledPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page with its true topic id, the topic's human name and its half."""

    url: str
    title: str
    text: str
    topic: str
    topic_name: str
    half: Half


class Session(msgspec.Struct, frozen=True, kw_only=True):
    """A generated session: its pages (in browsing order) with a dwell time each."""

    pages: list[LabelledPage]
    dwell_ms: list[int]

    @property
    def topics(self) -> list[str]:
        """The distinct true topics, in first-seen order."""
        return list(dict.fromkeys(page.topic for page in self.pages))


def _parse(path: Path) -> list[LabelledPage]:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].removeprefix("# topic:").split("|")
    topic, name = header[0].strip(), header[1].strip()
    blocks: list[list[str]] = []
    for line in lines[1:]:
        if line.startswith("--- "):
            blocks.append([line[4:].strip()])
        elif blocks and line.strip():
            blocks[-1].append(line.strip())
    return [
        LabelledPage(
            url=block[0],
            title=block[1],
            text="\n".join(block[2:]),
            topic=topic,
            topic_name=name,
            half="tune" if index % 2 == 0 else "heldout",
        )
        for index, block in enumerate(blocks)
    ]


@cache
def _all() -> tuple[LabelledPage, ...]:
    return tuple(page for path in sorted(_DIR.glob("*.txt")) for page in _parse(path))


def load_labelled(half: Half | None = None) -> list[LabelledPage]:
    """All labelled pages (or one half), grouped by topic in file order."""
    return [page for page in _all() if half is None or page.half == half]


def topic_names() -> dict[str, str]:
    """Topic id → the name a person would give the topic."""
    return {page.topic: page.topic_name for page in _all()}


def make_sessions(
    half: Half | None,
    count: int,
    seed: int,
    *,
    min_pages: int = 3,
    max_pages: int = 40,
    max_topics: int = 6,
) -> list[Session]:
    """``count`` mixed sessions drawn from ``half`` (``None`` = whole corpus), reproducibly.

    Each session takes 1..``max_topics`` topics and ``min_pages``..``max_pages`` pages
    in all (as many as the chosen topics have), spread unevenly over the topics, shuffled,
    with log-uniform dwell times between 2 s and 10 min. Every topic gets at least two
    pages: a lone page is a stray, not a topic, and with only lone pages the adjusted
    Rand index is degenerate (it is 0 for any grouping but all singletons).
    """
    rng = random.Random(seed)
    pages = load_labelled(half)
    by_topic: dict[str, list[LabelledPage]] = {}
    for page in pages:
        by_topic.setdefault(page.topic, []).append(page)
    topics = sorted(by_topic)
    sessions: list[Session] = []
    while len(sessions) < count:
        chosen = rng.sample(topics, rng.randint(1, min(max_topics, len(topics))))
        available = min(max_pages, sum(len(by_topic[t]) for t in chosen))
        least = max(min_pages, 2 * len(chosen))
        if available < least:
            continue
        total = rng.randint(least, available)
        quota = _spread(rng, [len(by_topic[t]) for t in chosen], total)
        picked = [p for t, n in zip(chosen, quota, strict=True) for p in rng.sample(by_topic[t], n)]
        rng.shuffle(picked)
        dwell = [int(math.exp(rng.uniform(math.log(2_000), math.log(600_000)))) for _ in picked]
        sessions.append(Session(pages=picked, dwell_ms=dwell))
    return sessions


def _spread(rng: random.Random, sizes: list[int], total: int) -> list[int]:
    """Split ``total`` pages over topics of ``sizes`` pages: uneven, at least 2 each."""
    quota = [min(2, size) for size in sizes]
    weights = [rng.uniform(0.3, 1.0) for _ in sizes]
    while sum(quota) < total:
        open_ = [i for i, size in enumerate(sizes) if quota[i] < size]
        pick = rng.choices(open_, weights=[weights[i] for i in open_])[0]
        quota[pick] += 1
    return quota
