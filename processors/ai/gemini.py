"""The Gemini provider: google-genai's async client with structured output and bounded retries.

Why our own retry loop: the client's built-in retries wait 1–10 s per try without telling
anyone, so a stuck session would hide behind them. We disable them
(``HttpRetryOptions(attempts=1)``) and retry here, visibly and within ``ai_attempts``:
429 and 5xx answers, timeouts, dropped connections and malformed model answers are retried
with exponential backoff (a server's ``Retry-After`` or ``RetryInfo`` wins, capped at the
call timeout); any other 4xx fails at once. After the last attempt :class:`AIError` carries
the reason, which the pipeline shows on the failed session.

The model only *proposes* groupings (page indices); :func:`processors.ai.mindmap.assemble`
builds the tree and rejects any answer that loses, repeats or invents a page.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import msgspec
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from mindhit.logs import get_logger
from processors.ai.answers import EMPTY_PLAN, parse_enrichment, parse_map
from processors.ai.base import AIError, Enrichment, MindmapPage, PageInput
from processors.ai.mindmap import assemble, merge_pages
from processors.ai.prompts import (
    ENRICH_SCHEMA,
    MINDMAP_SCHEMA,
    SYSTEM,
    enrich_prompt,
    mindmap_prompt,
)
from processors.ai.retry import Malformed
from processors.ai.text import short_label
from schema.derived import MindmapNode

try:  # google-genai uses aiohttp for its async client when it is installed
    from aiohttp import ClientError as _AiohttpError
except ImportError:  # pragma: no cover - aiohttp ships with faust-streaming
    _AiohttpError = OSError  # type: ignore[assignment,misc]

__all__ = ["GeminiProvider"]

T = TypeVar("T")
log = get_logger(__name__)

_TRANSPORT_ERRORS = (httpx.HTTPError, _AiohttpError, OSError)
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s?\s*$")


class GeminiProvider:
    """Enrichment and mind maps from Gemini (``ai_provider=gemini`` with an API key)."""

    name = "gemini"

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
            api_key: the Gemini API key.
            model: model name, e.g. ``gemini-2.5-flash``.
            base_url: endpoint override (tests point it at a local stub); empty = Google's.
            timeout_s: limit of one call, also the cap of any single retry delay.
            attempts: calls per request at most (≥ 1).
            backoff_s: first retry delay; doubles per attempt.
            sleep: awaited between attempts (injected so tests need not wait).
        """
        self.model = model
        self.timeout_s = timeout_s
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self._sleep = sleep
        options = types.HttpOptions(
            base_url=base_url or None,
            api_version="v1beta",
            timeout=max(1, int(timeout_s * 1000)),
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        self._client = genai.Client(api_key=api_key, http_options=options)

    async def enrich(self, page: PageInput) -> Enrichment:
        """Summarize and tag one page; malformed answers are retried, then :class:`AIError`."""
        return await self._generate(enrich_prompt(page), ENRICH_SCHEMA, parse_enrichment)

    async def build_mindmap(self, pages: list[MindmapPage]) -> MindmapNode:
        """Ask Gemini to group the session's pages, then assemble and validate the tree."""
        distinct = merge_pages(pages)
        if not distinct:
            return assemble([], EMPTY_PLAN)
        return await self._generate(
            mindmap_prompt(distinct), MINDMAP_SCHEMA, lambda text: parse_map(distinct, text)
        )

    async def aclose(self) -> None:
        """Close the client's HTTP sessions."""
        await self._client.aio.aclose()

    async def _generate(self, prompt: str, schema: types.Schema, parse: Callable[[str], T]) -> T:
        """Call the model until a valid answer or the attempts run out.

        Steps per attempt: 1. call with the timeout; 2. on 429/5xx/timeout/transport error
        note the reason and the server's suggested delay; on another 4xx raise at once;
        3. on an answer, parse and validate it, returning it when valid; 4. if attempts
        remain, sleep (backoff or server delay, capped at the timeout) and go again.
        """
        config = types.GenerateContentConfig(
            system_instruction=SYSTEM,
            response_mime_type="application/json",
            response_schema=schema,
            temperature=0.2,
        )
        reason = "no attempt made"
        retryable = True
        for attempt in range(1, self.attempts + 1):
            delay = self.backoff_s * 2 ** (attempt - 1)
            try:
                async with asyncio.timeout(self.timeout_s):
                    response = await self._client.aio.models.generate_content(
                        model=self.model, contents=prompt, config=config
                    )
            except TimeoutError:
                reason, retryable = f"no answer within {self.timeout_s:g} s", True
            except genai_errors.APIError as exc:
                code = int(exc.code or 0)
                reason = f"Gemini answered {code} {exc.status or ''}: {exc.message or ''}".strip()
                if code != 429 and code < 500:
                    raise AIError(reason, retryable=False) from exc
                retryable = True
                delay = _server_delay(exc) or delay
            except _TRANSPORT_ERRORS as exc:
                reason, retryable = f"Gemini unreachable: {type(exc).__name__}: {exc}", True
            else:
                try:
                    return parse(response.text or "")
                except (Malformed, msgspec.ValidationError, msgspec.DecodeError) as exc:
                    reason, retryable = f"malformed model answer: {exc}", False
            log.warning(
                "gemini.attempt_failed", attempt=attempt, attempts=self.attempts, reason=reason
            )
            if attempt < self.attempts:
                await self._sleep(min(delay, self.timeout_s))
        raise AIError(
            short_label(f"Gemini failed after {self.attempts} attempt(s): {reason}", 500),
            retryable=retryable,
        )


def _server_delay(exc: genai_errors.APIError) -> float | None:
    """The wait a 429/503 asks for: ``Retry-After`` header, else google.rpc.RetryInfo."""
    response: Any = getattr(exc, "response", None)
    headers = getattr(getattr(response, "_response", response), "headers", None) or {}
    match = _DELAY.match(str(headers.get("Retry-After", "")))
    if match:
        return float(match.group(1))
    details = exc.details.get("error", exc.details) if isinstance(exc.details, dict) else {}
    for item in details.get("details", []) if isinstance(details, dict) else []:
        if isinstance(item, dict) and "retryDelay" in item:
            match = _DELAY.match(str(item["retryDelay"]))
            if match:
                return float(match.group(1))
    return None
