"""The AI provider interface the agents call: enrich one page, build one session's mind map.

Providers are chosen from settings (see :func:`processors.ai.factory.provider_from_settings`).
Every provider returns validated Structs; a provider that cannot produce a valid answer
raises :class:`AIError` with a reason fit for the user (the session is marked failed
with it and the work goes to the dead-letter topic).
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from schema.derived import MindmapNode

__all__ = ["AIError", "AIProvider", "Enrichment", "MindmapPage", "PageInput"]


class AIError(RuntimeError):
    """The provider could not produce a valid answer (after its retries)."""

    def __init__(self, reason: str, *, retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


class PageInput(msgspec.Struct, frozen=True, kw_only=True):
    """One page to enrich: its normalized URL, title, language and extracted text."""

    url: str
    title: str
    text: str
    lang: str = ""


class Enrichment(msgspec.Struct, frozen=True, kw_only=True):
    """What a provider says about one page: a short summary, 3–7 tags and one topic."""

    summary: str
    tags: list[str]
    topic: str


class MindmapPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a finished session, as input to the mind map."""

    url: str
    title: str
    text: str
    dwell_ms: int
    url_hash: str = ""
    summary: str = ""
    tags: list[str] = []
    topic: str = ""


class AIProvider(Protocol):
    """What every provider implements."""

    name: str

    async def enrich(self, page: PageInput) -> Enrichment:
        """Summarize and tag one page."""
        ...

    async def build_mindmap(self, pages: list[MindmapPage]) -> MindmapNode:
        """Build the mind map of one session: root topic → subtopics → pages (leaves with url)."""
        ...

    async def aclose(self) -> None:
        """Release clients and connections."""
        ...
