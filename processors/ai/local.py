"""The offline AI provider: the default, it needs no network and no model download.

Enrichment is extractive (the page's most representative sentences, YAKE key phrases as
tags, the strongest phrase as topic). The mind map groups pages by subject with TF-IDF
and dwell-weighted clustering (:mod:`processors.ai.cluster`), names each group by its
most distinctive words and explains each grouping by the words its pages share. The
CPU-bound work runs in a worker thread so the event loop stays responsive.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from urllib.parse import urlsplit

from processors.ai.base import Enrichment, MindmapPage, PageInput
from processors.ai.cluster import (
    common_words,
    describe_groups,
    group_pages,
    page_document,
    split_subtopics,
)
from processors.ai.mindmap import (
    BRANCH_LABEL_CHARS,
    ROOT_LABEL_CHARS,
    Branch,
    MapPlan,
    assemble,
    format_duration,
    merge_pages,
)
from processors.ai.text import choose_tags, keywords, short_label, summarize, title_case, tokens
from schema.derived import MindmapNode

__all__ = ["LocalProvider", "enrich_page", "plan_session"]


def _url_words(url: str) -> list[str]:
    parts = urlsplit(url)
    path_words = [
        w for w in parts.path.replace("-", " ").replace("_", " ").replace("/", " ").split()
    ]
    host = parts.hostname or ""
    return [*path_words, *host.removeprefix("www.").split(".")[:1]]


def enrich_page(page: PageInput) -> Enrichment:
    """Summary, 3–7 tags and a topic for one page, from its own text only (pure)."""
    phrases = keywords(page.text, page.title, lang=page.lang or "en")
    fill = [*page.title.split(), *_url_words(page.url), "web page", "browsing", "reading"]
    tags = choose_tags(phrases, low=3, high=7, fill=fill)
    summary = summarize(page.text, page.title) or short_label(page.title or page.url, 120)
    return Enrichment(summary=summary, tags=tags, topic=title_case(tags[0]) if tags else "Web")


def _join(words: Sequence[str]) -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _branch_label(phrases: list[str], words: list[str], taken: set[str]) -> str:
    # A phrase names the group only when both its words are among its strongest words.
    strong = {w.lower() for w in words[:4]}
    named = [p for p in phrases if all(w.lower() in strong for w in p.split())]
    pairs = [f"{a} & {b}" for a, b in itertools.pairwise(words)]
    for candidate in [*named[:1], *pairs[:1], *words[:3], *pairs[1:]]:
        label = short_label(title_case(candidate), BRANCH_LABEL_CHARS)
        if label.lower() not in taken:
            return label
    return short_label(title_case(" ".join(words[:3]) or "Other pages"), BRANCH_LABEL_CHARS)


def _root_label(labels: list[str]) -> str:
    if len(labels) == 1:
        return labels[0]
    for shown in range(min(3, len(labels)), 0, -1):
        rest = len(labels) - shown
        head = _join(labels[:shown]) if rest == 0 else ", ".join(labels[:shown])
        label = head if rest == 0 else f"{head} +{rest} more"
        if len(label) <= ROOT_LABEL_CHARS:
            return label
    return short_label(labels[0], ROOT_LABEL_CHARS)


def plan_session(pages: Sequence[MindmapPage]) -> MapPlan:
    """Group a session's distinct pages by subject and say why (pure, deterministic).

    Args:
        pages: distinct pages (see :func:`processors.ai.mindmap.merge_pages`).

    Returns:
        A plan with one branch per subject group, labelled by its most distinctive words.
    """
    if not pages:
        return MapPlan(label="Empty session", why="No pages were visited.", branches=[])
    documents = [page_document(p.title, p.text or " ".join([p.summary, *p.tags])) for p in pages]
    dwell = [p.dwell_ms for p in pages]
    groups = group_pages(documents, dwell)
    central = ""
    if len(set(groups)) == 1:
        # One subject: the words most pages share name it; its subtopics become branches.
        central = short_label(
            title_case(" & ".join(common_words(documents, dwell, 2)) or "Session"),
            BRANCH_LABEL_CHARS,
        )
        groups = split_subtopics(documents)
    terms = describe_groups(documents, dwell, groups)
    members: list[list[int]] = [[] for _ in terms]
    for index, group in enumerate(groups):
        members[group].append(index)
    order = sorted(range(len(terms)), key=lambda g: (-sum(dwell[i] for i in members[g]), g))
    taken: set[str] = {central.lower()} if len(terms) > 1 else set()
    branches: list[Branch] = []
    for group in order:
        if len(terms) == 1 and central:
            label = central  # no subtopics: the subject names its one branch
        else:
            label = _branch_label(terms[group].phrases, terms[group].words, taken)
        taken.add(label.lower())
        shared = terms[group].words[:3]
        group_dwell = sum(dwell[i] for i in members[group])
        count = len(members[group])
        spent = f" ({format_duration(group_dwell)})" if group_dwell else ""
        if count == 1:
            why = f"Stands apart from the rest of the session{spent}: about {_join(shared)}."
        else:
            why = f"{count} pages{spent} that all deal with {_join(shared)}."
        page_why = []
        for index in members[group]:
            own = set(tokens(documents[index]))
            mentions = [w for w in terms[group].words if tokens(w) and tokens(w)[0] in own][:3]
            if mentions and count > 1:
                page_why.append(f"Mentions {_join(mentions)}.")
            else:
                page = pages[index]
                page_why.append(page.summary or summarize(page.text, page.title, max_sentences=1))
        branches.append(Branch(label=label, why=why, members=members[group], page_why=page_why))
    labels = [branch.label for branch in branches]
    total = sum(dwell)
    top_share = round(100 * sum(dwell[i] for i in branches[0].members) / total) if total else 0
    why = (
        f"{len(pages)} page{'s' if len(pages) != 1 else ''} over {format_duration(total)} in "
        f"{len(branches)} subtopic{'s' if len(branches) != 1 else ''}"
    )
    why += f"; most time went to {labels[0]} ({top_share}%)." if total else "."
    return MapPlan(label=central or _root_label(labels), why=why, branches=branches)


class LocalProvider:
    """Offline provider: extractive enrichment and clustering-based mind maps."""

    name = "local"

    async def enrich(self, page: PageInput) -> Enrichment:
        """Summarize and tag one page (in a worker thread)."""
        return await asyncio.to_thread(enrich_page, page)

    async def build_mindmap(self, pages: list[MindmapPage]) -> MindmapNode:
        """Build the session's mind map (in a worker thread)."""
        return await asyncio.to_thread(_build, pages)

    async def aclose(self) -> None:
        """Nothing to release: the local provider holds no connections."""


def _build(pages: Sequence[MindmapPage]) -> MindmapNode:
    distinct = merge_pages(pages)
    return assemble(distinct, plan_session(distinct))
