"""What the OpenAI and Anthropic providers share: limits, the two requests, validation.

A subclass names its SDK module, creates its client (:meth:`RemoteProvider._connect`)
and implements :meth:`RemoteProvider._ask` (one structured request); this base turns
enrichment and mind-map requests into prompts and JSON Schemas, validates the answers
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
from processors.ai.retry import Failure, RetryPolicy, call_with_retries, status_failure
from schema.derived import MindmapNode

__all__ = ["RemoteProvider", "sdk_failure"]

T = TypeVar("T")


def sdk_failure(exc: BaseException, sdk: Any, vendor: str) -> Failure | None:
    """How an error of the ``openai`` or ``anthropic`` SDK (same error classes) is handled.

    ``None``: not an error of ``sdk``, so not ours to handle.
    """
    if isinstance(exc, sdk.APIStatusError):
        return status_failure(vendor, exc.status_code, exc.message, exc.response.headers)
    if isinstance(exc, sdk.APITimeoutError):
        return Failure(f"{vendor} did not answer in time", True)
    if isinstance(exc, sdk.APIConnectionError):
        return Failure(f"{vendor} unreachable: {exc}", True)
    return None


class RemoteProvider:
    """Base of the SDK-backed providers (not used on its own)."""

    name = "remote"
    vendor = "Remote"
    sdk: Any = None
    """The vendor's SDK module (its error classes are classified)."""

    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        base_url: str = "",
        timeout_s: float = 30.0,
        attempts: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Create the client (no request is made yet).

        Args:
            api_key: the vendor's API key.
            model: model name.
            base_url: endpoint override (tests point it at a local stub); empty = the vendor's.
            timeout_s: limit of one call, also the cap of any single retry delay.
            attempts: calls per request at most (≥ 1).
            backoff_s: first retry delay; doubles per attempt.
            sleep: awaited between attempts (injected so tests need not wait).
        """
        self.model = model
        self.policy = RetryPolicy(
            vendor=self.vendor, attempts=attempts, timeout_s=timeout_s, backoff_s=backoff_s
        )
        self._sleep = sleep
        self._client: Any = self._connect(api_key, base_url or None, timeout_s)

    def _connect(self, api_key: str, base_url: str | None, timeout_s: float) -> Any:
        """The SDK's async client with its own retries off (subclasses)."""
        raise NotImplementedError

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
        """Close the client's HTTP connections."""
        await self._client.close()

    async def _retrying(
        self, prompt: str, kind: str, schema: dict[str, Any], parse: Callable[[Any], T]
    ) -> T:
        async def call() -> Any:
            return await self._ask(prompt, kind, schema)

        def classify(exc: BaseException) -> Failure | None:
            return sdk_failure(exc, self.sdk, self.vendor)

        return await call_with_retries(call, parse, classify, self.policy, self._sleep)

    async def _ask(self, prompt: str, kind: str, schema: dict[str, Any]) -> Any:
        """One structured request; returns the answer as JSON text or a parsed object."""
        raise NotImplementedError
