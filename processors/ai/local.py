"""The offline AI provider: the default, it needs no network and no model download.

Enrichment is extractive (the page's most representative sentences, YAKE key phrases as
tags, the strongest phrase as topic). The mind map groups pages by subject
(:mod:`processors.ai.cluster`: weighted words, title character grams and, when the
package is installed, the titles' word vectors; a similarity graph, the number of
branches from its eigengap), names each branch with a noun phrase
from its pages' titles and headings (:mod:`processors.ai.labels`), summarizes it in one
sentence and names the root after the branch that took most time, and the next one only
when it took a substantial share too (:data:`SECOND_SHARE`: a one-page side trip does not
name the session). The CPU-bound work runs in a worker thread so the event loop stays
responsive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from urllib.parse import urlsplit

from processors.ai.base import Enrichment, MindmapPage, PageInput
from processors.ai.cluster import group_pages
from processors.ai.features import WordLookup
from processors.ai.labels import GroupNames, LabelPage, name_groups, proper_words, sentence_case
from processors.ai.mindmap import (
    BRANCH_LABEL_CHARS,
    ROOT_LABEL_CHARS,
    Branch,
    MapPlan,
    assemble,
    format_duration,
    merge_pages,
)
from processors.ai.pagetopic import rank_phrases
from processors.ai.text import choose_tags, keywords, short_label, summarize, title_case, tokens
from processors.ai.wordvectors import load_word_vectors
from schema.derived import MindmapNode

__all__ = ["LocalProvider", "enrich_page", "plan_session", "root_label"]


def _url_words(url: str) -> list[str]:
    parts = urlsplit(url)
    path_words = [
        w for w in parts.path.replace("-", " ").replace("_", " ").replace("/", " ").split()
    ]
    host = parts.hostname or ""
    return [*path_words, *host.removeprefix("www.").split(".")[:1]]


def enrich_page(page: PageInput) -> Enrichment:
    """Summary, 3–7 tags and a topic for one page, from its own text only (pure)."""
    ranked = keywords(page.text, page.title, lang=page.lang or "en")
    phrases = rank_phrases(page.text, page.url, ranked)
    fill = [
        *phrases.weak,
        *page.title.split(),
        *_url_words(page.url),
        *("web page", "browsing", "reading"),
    ]
    tags = choose_tags([phrases.topic, *phrases.strong], low=3, high=7, fill=fill)
    summary = summarize(page.text, page.title) or short_label(page.title or page.url, 120)
    return Enrichment(summary=summary, tags=tags, topic=title_case(tags[0]) if tags else "Web")


def _join(words: Sequence[str]) -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


SECOND_SHARE = 0.3
"""The root names a second branch only when it holds this share of the session's time."""


def root_label(
    labels: Sequence[str],
    proper: set[str] = frozenset(),  # type: ignore[assignment]
    shares: Sequence[float] | None = None,
) -> str:
    """The session's main theme or two: the first branch label, and the second (by time)
    when it holds at least :data:`SECOND_SHARE` of the time (``shares``, in the labels'
    order; ``None``: always). A one-page side trip does not name the session.
    """
    if not labels:
        return "Empty session"
    if len(labels) >= 2 and (shares is None or shares[1] >= SECOND_SHARE):
        second = sentence_case(labels[1], proper, first_upper=False)
        both = f"{labels[0]} and {second}"
        if len(both) <= ROOT_LABEL_CHARS:
            return both
    return short_label(labels[0], ROOT_LABEL_CHARS)


def _page_text(page: MindmapPage) -> str:
    return page.text or " ".join([page.summary, *page.tags])


def _branch(pages: Sequence[MindmapPage], members: list[int], names: GroupNames) -> Branch:
    dwell = sum(pages[i].dwell_ms for i in members)
    spent = f" ({format_duration(dwell)})" if dwell else ""
    shared = _join(names.words[:3])
    if len(members) == 1:
        why = f"Stands apart from the rest of the session{spent}" + (
            f": about {shared}." if shared else "."
        )
    else:
        why = f"{len(members)} pages{spent}" + (f" that all deal with {shared}." if shared else ".")
    page_why = []
    for index in members:
        own = set(tokens(f"{pages[index].title} {_page_text(pages[index])}"))
        mentions = [w for w in names.words if tokens(w) and tokens(w)[0] in own][:3]
        page = pages[index]
        if page.summary or not mentions or len(members) == 1:
            page_why.append(page.summary or summarize(page.text, page.title, max_sentences=1))
        else:
            page_why.append(f"Mentions {_join(mentions)}.")
    return Branch(
        label=names.label, why=why, members=members, page_why=page_why, summary=names.summary
    )


def plan_session(pages: Sequence[MindmapPage], lookup: WordLookup | None = None) -> MapPlan:
    """Group a session's distinct pages by subject, name and explain each group (pure).

    Args:
        pages: distinct pages (see :func:`processors.ai.mindmap.merge_pages`).
        lookup: word vectors for the grouping (``None``: words and title letters only).

    Returns:
        A plan with one branch per subject group, ordered by attended time.
    """
    if not pages:
        return MapPlan(label="Empty session", why="No pages were visited.", branches=[])
    texts = [_page_text(p) for p in pages]
    groups = group_pages([p.title for p in pages], texts, [p.url for p in pages], lookup=lookup)
    label_pages = [
        LabelPage(title=p.title, text=t, dwell_ms=p.dwell_ms, url=p.url)
        for p, t in zip(pages, texts, strict=True)
    ]
    names = name_groups(label_pages, groups, max_chars=BRANCH_LABEL_CHARS, lookup=lookup)
    members: list[list[int]] = [[] for _ in names]
    for index, group in enumerate(groups):
        members[group].append(index)
    dwell = [p.dwell_ms for p in pages]
    order = sorted(range(len(names)), key=lambda g: (-sum(dwell[i] for i in members[g]), g))
    branches = [_branch(pages, members[g], names[g]) for g in order]
    total = sum(dwell)
    # Without dwell (every page 0 ms), a branch's share is its share of the pages.
    shares = [
        sum(dwell[i] for i in b.members) / total if total else len(b.members) / len(pages)
        for b in branches
    ]
    top_share = round(100 * shares[0]) if total else 0
    why = (
        f"{len(pages)} page{'s' if len(pages) != 1 else ''} over {format_duration(total)} in "
        f"{len(branches)} subtopic{'s' if len(branches) != 1 else ''}"
    )
    why += f"; most time went to {branches[0].label} ({top_share}%)." if total else "."
    proper = proper_words(texts)
    return MapPlan(
        label=root_label([b.label for b in branches], proper, shares), why=why, branches=branches
    )


class LocalProvider:
    """Offline provider: extractive enrichment and clustering-based mind maps.

    ``word_vectors=False`` groups without the installed word vectors (the fallback, for
    comparison); by default they are used when installed.
    """

    name = "local"

    def __init__(self, *, word_vectors: bool = True) -> None:
        self._word_vectors = word_vectors

    async def enrich(self, page: PageInput) -> Enrichment:
        """Summarize and tag one page (in a worker thread)."""
        return await asyncio.to_thread(enrich_page, page)

    async def build_mindmap(self, pages: list[MindmapPage]) -> MindmapNode:
        """Build the session's mind map (in a worker thread)."""
        return await asyncio.to_thread(_build, pages, self._word_vectors)

    async def aclose(self) -> None:
        """Nothing to release: the local provider holds no connections."""


def _build(pages: Sequence[MindmapPage], word_vectors: bool) -> MindmapNode:
    distinct = merge_pages(pages)
    lookup = load_word_vectors() if word_vectors else None
    return assemble(distinct, plan_session(distinct, lookup))
