"""A local HTTP server that speaks the Gemini REST shape, so the real google-genai client runs.

The only fake allowed in our tests is the remote AI service; this is it. It serves
``POST /v1beta/models/{model}:generateContent``, checks the ``x-goog-api-key`` header and
records every request. Replies come from a script (:class:`StubReply` items, consumed in
order: an error status, a delay, a raw model answer) and, when the script is empty, from
a responder that answers any enrichment or mind-map request validly (it reads the schema
from ``generationConfig.responseSchema`` and the pages after ``Pages (JSON):``).

Use it in-loop (``async with GeminiStub() as stub``) or in a thread for tests that run the
worker in another process (``stub.start_in_thread()`` / ``stub.stop_thread()``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from aiohttp import web

from tests.support.ai_stubs import RecordedRequest, StubReply, StubServer, answer_for

__all__ = ["GeminiStub", "StubReply", "valid_answer"]

_PATH = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):generateContent$")


def valid_answer(body: dict[str, Any]) -> dict[str, Any]:
    """A schema-valid answer to an enrichment or mind-map request (groups pages by site)."""
    config = body.get("generationConfig", {})
    properties = (config.get("responseSchema") or {}).get("properties", {})
    prompt = "".join(
        part.get("text", "") for c in body.get("contents", []) for part in c.get("parts", [])
    )
    return answer_for("mindmap" if "subtopics" in properties else "enrich", prompt)


class GeminiStub(StubServer):
    """The stub server; ``base_url`` is valid once started."""

    thread_name = "gemini-stub"

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        responder: Callable[[dict[str, Any]], dict[str, Any]] = valid_answer,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(api_key=api_key, host=host)
        self.responder = responder

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer ``generateContent`` (or a Gemini-shaped error)."""
        match = _PATH.match(request.path)
        if match is None:
            return _error(404, "NOT_FOUND", f"no route {request.path}")
        key = request.headers.get("x-goog-api-key", "")
        body = await request.json()
        self.requests.append(RecordedRequest(match["model"], key, body))
        if key != self.api_key:
            return _error(
                400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."
            )
        reply = await self.next_reply()
        if reply.status != 200:
            status = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}.get(
                reply.status, "ERROR"
            )
            return _error(
                reply.status, status, reply.error_message or status.lower(), reply.headers
            )
        answer = reply.answer if reply.answer is not None else json.dumps(self.responder(body))
        return web.json_response(
            {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": answer}]},
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": 10,
                    "candidatesTokenCount": 10,
                    "totalTokenCount": 20,
                },
                "modelVersion": match["model"],
            },
            headers=reply.headers,
        )


def _error(
    status: int, name: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": {"code": status, "message": message, "status": name}}
    return web.json_response(body, status=status, headers=headers or {})
