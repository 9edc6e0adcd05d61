"""The OpenAI provider: the official ``openai`` SDK, chat completions with JSON-schema output.

``response_format`` carries a strict JSON Schema (:data:`processors.ai.prompts.MINDMAP_JSON_SCHEMA`
or the enrichment one), so the model answers with exactly that object. The SDK's own
retries are off (``max_retries=0``); :func:`processors.ai.retry.call_with_retries` retries
visibly within ``ai_attempts``. The model only proposes groupings (page indices);
:func:`processors.ai.answers.parse_map` assembles the tree and rejects any answer that
loses, repeats or invents a page. ``base_url`` points the real client at a local stub in
tests (``tests/support/ai_stubs.py``).
"""

from __future__ import annotations

from typing import Any

import openai

from processors.ai.prompts import SYSTEM
from processors.ai.remote import RemoteProvider
from processors.ai.retry import Malformed

__all__ = ["OpenAIProvider"]


class OpenAIProvider(RemoteProvider):
    """Enrichment and mind maps from OpenAI (``ai_provider=openai`` with an API key)."""

    name = "openai"
    vendor = "OpenAI"
    sdk = openai

    def _connect(self, api_key: str, base_url: str | None, timeout_s: float) -> Any:
        return openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0
        )

    async def _ask(self, prompt: str, kind: str, schema: dict[str, Any]) -> str:
        response = await self._client.chat.completions.create(
            model=self.model,
            messages=[
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": prompt},
            ],
            response_format={
                "type": "json_schema",
                "json_schema": {"name": kind, "schema": schema, "strict": True},
            },
            temperature=0.2,
        )
        if not response.choices:
            raise Malformed("no choices in the answer")
        message = response.choices[0].message
        if message.refusal:
            raise Malformed(f"the model refused: {message.refusal}")
        return message.content or ""
