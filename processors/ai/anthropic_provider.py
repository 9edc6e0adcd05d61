"""The Anthropic (Claude) provider: the official ``anthropic`` SDK with forced tool use.

Claude answers in structured form by calling a tool whose ``input_schema`` is our JSON
Schema (:data:`processors.ai.prompts.MINDMAP_JSON_SCHEMA` or the enrichment one);
``tool_choice`` forces that tool, and the tool call's ``input`` is the answer. The SDK's
own retries are off (``max_retries=0``); :func:`processors.ai.retry.call_with_retries`
retries visibly within ``ai_attempts``. The tree is assembled and validated locally
(:func:`processors.ai.answers.parse_map`). ``base_url`` points the real client at a local
stub in tests (``tests/support/ai_stubs.py``).
"""

from __future__ import annotations

from typing import Any

import anthropic
from anthropic.types import MessageParam, ToolChoiceToolParam, ToolParam

from processors.ai.prompts import SYSTEM
from processors.ai.remote import RemoteProvider
from processors.ai.retry import Malformed

__all__ = ["AnthropicProvider"]

MAX_TOKENS = 8192


class AnthropicProvider(RemoteProvider):
    """Enrichment and mind maps from Claude (``ai_provider=anthropic`` with an API key)."""

    name = "anthropic"
    vendor = "Anthropic"
    sdk = anthropic

    def _connect(self, api_key: str, base_url: str | None, timeout_s: float) -> Any:
        return anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=0
        )

    async def _ask(self, prompt: str, kind: str, schema: dict[str, Any]) -> dict[str, object]:
        tool = f"record_{kind}"
        messages: list[MessageParam] = [{"role": "user", "content": prompt}]
        tools: list[ToolParam] = [
            {"name": tool, "description": "Record the answer.", "input_schema": schema}
        ]
        choice: ToolChoiceToolParam = {"type": "tool", "name": tool}
        response = await self._client.messages.create(
            model=self.model,
            max_tokens=MAX_TOKENS,
            system=SYSTEM,
            messages=messages,
            tools=tools,
            tool_choice=choice,
        )
        for block in response.content:
            if block.type == "tool_use" and block.name == tool:
                if not isinstance(block.input, dict):
                    raise Malformed("the tool input is not an object")
                return block.input
        raise Malformed(f"no {tool} tool call in the answer (stop: {response.stop_reason})")
