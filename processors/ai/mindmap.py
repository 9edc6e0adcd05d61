"""Pure mind-map assembly: a plan (which pages go together, and why) becomes a node tree.

Both providers only *propose* a grouping (a :class:`MapPlan`); this module turns it into
the ``schema.derived.MindmapNode`` tree and guarantees what the dashboard relies on,
whoever made the plan: every distinct page appears exactly once as a leaf with its url
and url hash; each node's weight is the dwell time below it, so the root's weight is the
session's attended time; siblings are ordered by weight; labels are short. A plan that
breaks these rules (a page missing, repeated or unknown) is rejected with
:class:`PlanError`, which is how a malformed Gemini answer is caught.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from processors.ai.base import MindmapPage
from processors.ai.text import short_label
from schema.derived import MindmapNode

__all__ = [
    "BRANCH_LABEL_CHARS",
    "PAGE_LABEL_CHARS",
    "ROOT_LABEL_CHARS",
    "Branch",
    "MapPlan",
    "PlanError",
    "assemble",
    "format_duration",
    "merge_pages",
]

ROOT_LABEL_CHARS = 60
BRANCH_LABEL_CHARS = 40
PAGE_LABEL_CHARS = 60
WHY_CHARS = 280


class PlanError(ValueError):
    """A proposed grouping does not cover every page exactly once."""


class Branch(msgspec.Struct, frozen=True, kw_only=True):
    """One subtopic: its label, why its pages belong together, and its pages (indices).

    ``page_why`` optionally explains, per member (same order), why that page is here;
    ``summary`` is one sentence on what the subtopic's pages are about.
    """

    label: str
    why: str
    members: list[int]
    page_why: list[str] = []
    summary: str = ""


class MapPlan(msgspec.Struct, frozen=True, kw_only=True):
    """A provider's proposal for one session: the central topic and its subtopics."""

    label: str
    why: str
    branches: list[Branch]


def merge_pages(pages: Sequence[MindmapPage]) -> list[MindmapPage]:
    """One page per url, in first-seen order: dwell times add up, the longest text is kept.

    Negative dwell (a clock skew upstream) counts as zero.
    """
    merged: dict[str, MindmapPage] = {}
    for page in pages:
        dwell = max(page.dwell_ms, 0)
        known = merged.get(page.url)
        if known is None:
            merged[page.url] = msgspec.structs.replace(page, dwell_ms=dwell)
            continue
        richer = page if len(page.text) > len(known.text) else known
        merged[page.url] = msgspec.structs.replace(
            richer,
            dwell_ms=known.dwell_ms + dwell,
            title=known.title or page.title,
            url_hash=known.url_hash or page.url_hash,
        )
    return list(merged.values())


def format_duration(ms: int) -> str:
    """A short human duration: ``45 s``, ``12 min``, ``1 h 05 min``."""
    seconds = max(ms, 0) // 1000
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def _validate(plan: MapPlan, count: int) -> None:
    seen: set[int] = set()
    for branch in plan.branches:
        if not branch.members:
            raise PlanError(f"subtopic {branch.label!r} has no pages")
        for index in branch.members:
            if not 0 <= index < count:
                raise PlanError(f"subtopic {branch.label!r} names unknown page {index}")
            if index in seen:
                raise PlanError(f"page {index} is placed in more than one subtopic")
            seen.add(index)
    missing = sorted(set(range(count)) - seen)
    if missing:
        raise PlanError(f"pages {missing[:10]} are in no subtopic")


def _page_label(page: MindmapPage) -> str:
    return short_label(page.title.strip() or page.url, PAGE_LABEL_CHARS)


def assemble(pages: Sequence[MindmapPage], plan: MapPlan) -> MindmapNode:
    """Build the node tree for ``pages`` (already merged by url) from ``plan``.

    Args:
        pages: the session's distinct pages; plan indices refer to this order.
        plan: the grouping proposed by a provider.

    Returns:
        Root → one node per branch → one leaf per page. Branches are ordered by weight
        (then label), leaves by dwell (then url).

    Raises:
        PlanError: the plan does not place every page exactly once.
    """
    _validate(plan, len(pages))
    branches: list[MindmapNode] = []
    for branch in plan.branches:
        reasons = dict(zip(branch.members, branch.page_why, strict=False))
        leaves = [
            MindmapNode(
                label=_page_label(pages[index]),
                weight_ms=pages[index].dwell_ms,
                why=short_label(reasons.get(index, "") or pages[index].summary, WHY_CHARS),
                url=pages[index].url,
                url_hash=pages[index].url_hash,
            )
            for index in branch.members
        ]
        leaves.sort(key=lambda leaf: (-leaf.weight_ms, leaf.url))
        branches.append(
            MindmapNode(
                label=short_label(branch.label.strip() or leaves[0].label, BRANCH_LABEL_CHARS),
                weight_ms=sum(leaf.weight_ms for leaf in leaves),
                why=short_label(branch.why, WHY_CHARS),
                children=leaves,
                summary=short_label(branch.summary, WHY_CHARS),
            )
        )
    branches.sort(key=lambda node: (-node.weight_ms, node.label, node.children[0].url))
    label = plan.label.strip() or (branches[0].label if branches else "Empty session")
    return MindmapNode(
        label=short_label(label, ROOT_LABEL_CHARS),
        weight_ms=sum(node.weight_ms for node in branches),
        why=short_label(plan.why, WHY_CHARS),
        children=branches,
    )
