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

import asyncio
import json
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

__all__ = ["GeminiStub", "StubReply", "valid_answer"]

_PATH = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):generateContent$")


@dataclass(frozen=True)
class StubReply:
    """One scripted reply: a status with an error, or a model answer (``answer`` text)."""

    status: int = 200
    answer: str | None = None
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = ""


@dataclass
class RecordedRequest:
    """What the client sent: model, api key header and the JSON body."""

    model: str
    api_key: str
    body: dict[str, Any]


def _words(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for word in re.findall(r"[A-Za-z][A-Za-z-]{3,}", text):
        seen.setdefault(word.lower(), None)
    return list(seen)


def valid_answer(body: dict[str, Any]) -> dict[str, Any]:
    """A schema-valid answer to an enrichment or mind-map request (groups pages by site)."""
    config = body.get("generationConfig", {})
    properties = (config.get("responseSchema") or {}).get("properties", {})
    prompt = "".join(
        part.get("text", "") for c in body.get("contents", []) for part in c.get("parts", [])
    )
    if "subtopics" in properties:
        pages = json.loads(prompt.split("Pages (JSON):", 1)[1])
        by_site: dict[str, list[dict[str, Any]]] = {}
        for page in pages:
            by_site.setdefault(urlsplit(page["url"]).hostname or "site", []).append(page)
        return {
            "label": "Stub session",
            "why": f"{len(pages)} pages grouped by site.",
            "subtopics": [
                {
                    "label": site,
                    "why": f"All pages come from {site}.",
                    "pages": [{"index": p["index"], "why": f"Read on {site}."} for p in members],
                }
                for site, members in by_site.items()
            ],
        }
    text = prompt.split("Text:", 1)[-1]
    tags = ([*_words(text), "stub", "sample", "answer"])[:5]
    return {"summary": text.strip()[:200] or "Empty page.", "tags": tags, "topic": tags[0]}


class GeminiStub:
    """The stub server; ``base_url`` is valid once started."""

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        responder: Callable[[dict[str, Any]], dict[str, Any]] = valid_answer,
        host: str = "127.0.0.1",
    ) -> None:
        self.api_key = api_key
        self.responder = responder
        self.host = host
        self.script: deque[StubReply] = deque()
        self.requests: list[RecordedRequest] = []
        self.base_url = ""
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def push(self, *replies: StubReply) -> None:
        """Queue replies; each request consumes one until the script is empty."""
        self.script.extend(replies)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
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
        reply = self.script.popleft() if self.script else StubReply()
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
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

    async def start(self) -> str:
        """Serve on a free loopback port; returns the base URL."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://{self.host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> GeminiStub:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self) -> str:
        """Serve from a background thread (for workers in other processes)."""
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.start())
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self.stop())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="gemini-stub", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.base_url

    def stop_thread(self) -> None:
        """Stop a stub started with :meth:`start_in_thread`."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None


def _error(
    status: int, name: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": {"code": status, "message": message, "status": name}}
    return web.json_response(body, status=status, headers=headers or {})
