"""Turning a remote model's structured answer into validated Structs, for every vendor.

Every remote provider asks for the same JSON shapes (:mod:`processors.ai.prompts`); this
module decodes them and applies our own rules on top of the schema (3–7 distinct tags,
non-empty summary and topic; a mind map that places every page exactly once), so a
malformed answer is caught the same way whoever sent it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import msgspec

from processors.ai.base import Enrichment, MindmapPage
from processors.ai.mindmap import MapPlan, PlanError, assemble
from processors.ai.prompts import GeminiEnrichment, GeminiMap, to_plan
from processors.ai.retry import Malformed
from processors.ai.text import choose_tags, short_label
from schema.derived import MindmapNode

__all__ = ["EMPTY_PLAN", "decode_answer", "parse_enrichment", "parse_map"]

T = TypeVar("T")

EMPTY_PLAN = MapPlan(label="Empty session", why="No pages were visited.", branches=[])


def decode_answer(answer: str | bytes | dict[str, object], kind: type[T]) -> T:
    """Decode a JSON text (or an already parsed object, as tool input) into ``kind``."""
    if isinstance(answer, dict):
        return msgspec.convert(answer, type=kind)
    raw = answer.encode() if isinstance(answer, str) else answer
    if not raw.strip():
        raise Malformed("empty answer")
    return msgspec.json.decode(raw, type=kind)


def parse_enrichment(answer: str | bytes | dict[str, object]) -> Enrichment:
    """An enrichment answer, checked: 3–7 distinct tags, summary and topic not empty."""
    found = decode_answer(answer, GeminiEnrichment)
    tags = choose_tags(found.tags, low=0, high=7)
    if not 3 <= len(tags) <= 7:
        raise Malformed(f"expected 3-7 distinct tags, got {len(tags)}")
    if not found.summary.strip() or not found.topic.strip():
        raise Malformed("summary and topic must not be empty")
    return Enrichment(
        summary=short_label(found.summary, 600), tags=tags, topic=short_label(found.topic, 60)
    )


def parse_map(pages: Sequence[MindmapPage], answer: str | bytes | dict[str, object]) -> MindmapNode:
    """A mind-map answer for ``pages`` (distinct), assembled and validated."""
    try:
        return assemble(pages, to_plan(decode_answer(answer, GeminiMap)))
    except PlanError as exc:
        raise Malformed(str(exc)) from exc
