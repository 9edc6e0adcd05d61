"""What the OpenAI and Anthropic providers share: limits, the two requests, validation.

A subclass creates its SDK client and implements :meth:`RemoteProvider._ask` (one
structured request with the vendor's SDK); this base turns enrichment and mind-map
requests into prompts and JSON Schemas, validates the answers
(:mod:`processors.ai.answers`) and retries within the policy
(:func:`processors.ai.retry.call_with_retries`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from processors.ai.answers import EMPTY_PLAN, parse_enrichment, parse_map
from processors.ai.base import Enrichment, MindmapPage, PageInput
from processors.ai.mindmap import assemble, merge_pages
from processors.ai.prompts import (
    ENRICH_JSON_SCHEMA,
    MINDMAP_JSON_SCHEMA,
    enrich_prompt,
    mindmap_prompt,
)
from processors.ai.retry import Failure, RetryPolicy, call_with_retries
from schema.derived import MindmapNode

__all__ = ["RemoteProvider"]

T = TypeVar("T")


class RemoteProvider:
    """Base of the SDK-backed providers (not used on its own)."""

    name = "remote"
    vendor = "Remote"

    def __init__(
        self,
        *,
        model: str,
        timeout_s: float = 30.0,
        attempts: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Keep the model and limits: ``timeout_s`` per call, ``attempts`` calls at most."""
        self.model = model
        self.policy = RetryPolicy(
            vendor=self.vendor, attempts=attempts, timeout_s=timeout_s, backoff_s=backoff_s
        )
        self._sleep = sleep

    async def enrich(self, page: PageInput) -> Enrichment:
        """Summarize and tag one page; malformed answers are retried, then ``AIError``."""
        prompt = enrich_prompt(page)
        return await self._retrying(prompt, "enrich", ENRICH_JSON_SCHEMA, parse_enrichment)

    async def build_mindmap(self, pages: list[MindmapPage]) -> MindmapNode:
        """Ask the model to group the session's pages, then assemble and validate the tree."""
        distinct = merge_pages(pages)
        if not distinct:
            return assemble([], EMPTY_PLAN)
        return await self._retrying(
            mindmap_prompt(distinct),
            "mindmap",
            MINDMAP_JSON_SCHEMA,
            lambda answer: parse_map(distinct, answer),
        )

    async def aclose(self) -> None:
        """Release the client (subclasses)."""

    async def _retrying(
        self, prompt: str, kind: str, schema: dict[str, Any], parse: Callable[[Any], T]
    ) -> T:
        async def call() -> Any:
            return await self._ask(prompt, kind, schema)

        return await call_with_retries(call, parse, self._classify, self.policy, self._sleep)

    async def _ask(self, prompt: str, kind: str, schema: dict[str, Any]) -> Any:
        """One structured request; returns the answer as JSON text or a parsed object."""
        raise NotImplementedError

    def _classify(self, exc: BaseException) -> Failure | None:
        """How an SDK error is handled (``None``: not an SDK error)."""
        raise NotImplementedError
