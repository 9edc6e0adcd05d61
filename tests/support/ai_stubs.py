"""Local HTTP servers that speak the OpenAI and Anthropic REST shapes, so the real SDKs run.

The only fake allowed in our tests is the remote AI service; these are it (with
``gemini_stub.py``, built on the same :class:`StubServer`). Each records every request,
checks the API key header and answers from a script (:class:`StubReply` items, consumed in
order: an error status, a delay, a raw model answer) or, when the script is empty, with a
valid answer built from the request (:func:`answer_for`: pages grouped by site for a mind
map, words of the text for an enrichment).

- :class:`OpenAIStub` serves ``POST /v1/chat/completions`` (``Authorization: Bearer``);
  its ``base_url`` ends in ``/v1`` as the ``openai`` SDK expects.
- :class:`AnthropicStub` serves ``POST /v1/messages`` (``x-api-key`` or a bearer token,
  depending on the SDK release) and answers with a
  ``tool_use`` block calling the requested tool (a scripted answer that is not a JSON
  object comes back as a plain text block instead).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import urlsplit

from aiohttp import web

__all__ = [
    "AnthropicStub",
    "OpenAIStub",
    "RecordedRequest",
    "StubReply",
    "StubServer",
    "answer_for",
]


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


def answer_for(kind: str, prompt: str) -> dict[str, Any]:
    """A valid answer to a ``mindmap`` or ``enrich`` request (a mind map groups by site)."""
    if kind == "mindmap":
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
                    "summary": f"Pages read on {site}.",
                    "pages": [{"index": p["index"], "why": f"Read on {site}."} for p in members],
                }
                for site, members in by_site.items()
            ],
        }
    text = prompt.split("Text:", 1)[-1]
    tags = ([*_words(text), "stub", "sample", "answer"])[:5]
    return {"summary": text.strip()[:200] or "Empty page.", "tags": tags, "topic": tags[0]}


class StubServer:
    """A scripted aiohttp server on a free loopback port; subclasses answer requests."""

    thread_name = "ai-stub"

    def __init__(self, *, api_key: str = "test-key", host: str = "127.0.0.1") -> None:
        self.api_key = api_key
        self.host = host
        self.script: deque[StubReply] = deque()
        self.requests: list[RecordedRequest] = []
        self.root_url = ""
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def base_url(self) -> str:
        """What the SDK's ``base_url`` option takes."""
        return self.root_url

    def push(self, *replies: StubReply) -> None:
        """Queue replies; each request consumes one until the script is empty."""
        self.script.extend(replies)

    async def next_reply(self) -> StubReply:
        """The next scripted reply (after its delay), or the default valid one."""
        reply = self.script.popleft() if self.script else StubReply()
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        return reply

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one request (subclasses)."""
        raise NotImplementedError

    async def start(self) -> str:
        """Serve on a free loopback port; returns the base URL."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.root_url = f"http://{self.host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
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

        self._thread = threading.Thread(target=run, name=self.thread_name, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.base_url

    def stop_thread(self) -> None:
        """Stop a stub started with :meth:`start_in_thread`."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None


def _prompt(messages: list[dict[str, Any]]) -> str:
    parts = []
    for message in messages:
        content = message.get("content", "")
        if isinstance(content, str):
            parts.append(content)
        else:
            parts.extend(block.get("text", "") for block in content if isinstance(block, dict))
    return "\n".join(parts)


class OpenAIStub(StubServer):
    """``POST /v1/chat/completions`` with JSON-schema ``response_format``."""

    thread_name = "openai-stub"

    @property
    def base_url(self) -> str:
        """The ``openai`` SDK's base URL includes the API version."""
        return f"{self.root_url}/v1" if self.root_url else ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer a chat completion (or an OpenAI-shaped error)."""
        if request.method != "POST" or request.path != "/v1/chat/completions":
            return _openai_error(404, "not_found", f"no route {request.path}")
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        body = await request.json()
        self.requests.append(RecordedRequest(body.get("model", ""), key, body))
        if key != self.api_key:
            return _openai_error(401, "invalid_api_key", "Incorrect API key provided.")
        reply = await self.next_reply()
        if reply.status != 200:
            message = reply.error_message or f"error {reply.status}"
            return _openai_error(reply.status, "server_error", message, reply.headers)
        name = body["response_format"]["json_schema"]["name"]
        kind = "mindmap" if name == "mindmap" else "enrich"
        answer = reply.answer
        if answer is None:
            answer = json.dumps(answer_for(kind, _prompt(body["messages"])))
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": 1_764_000_000,
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
            },
            headers=reply.headers,
        )


class AnthropicStub(StubServer):
    """``POST /v1/messages`` answering with a call of the forced tool."""

    thread_name = "anthropic-stub"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer a message (or an Anthropic-shaped error)."""
        if request.method != "POST" or request.path != "/v1/messages":
            return _anthropic_error(404, "not_found_error", f"no route {request.path}")
        # Older SDK releases send ``x-api-key``, newer ones ``Authorization: Bearer``.
        key = request.headers.get("x-api-key") or request.headers.get(
            "Authorization", ""
        ).removeprefix("Bearer ")
        body = await request.json()
        self.requests.append(RecordedRequest(body.get("model", ""), key, body))
        if key != self.api_key:
            return _anthropic_error(401, "authentication_error", "invalid x-api-key")
        reply = await self.next_reply()
        if reply.status != 200:
            kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(reply.status, "api_error")
            message = reply.error_message or f"error {reply.status}"
            return _anthropic_error(reply.status, kind, message, reply.headers)
        tool = body["tool_choice"]["name"]
        block = _tool_block(tool, reply.answer, _prompt(body["messages"]))
        return web.json_response(
            {
                "id": f"msg_{len(self.requests)}",
                "type": "message",
                "role": "assistant",
                "model": body.get("model", ""),
                "content": [block],
                "stop_reason": "tool_use" if block["type"] == "tool_use" else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 10, "output_tokens": 10},
            },
            headers=reply.headers,
        )


def _tool_block(tool: str, answer: str | None, prompt: str) -> dict[str, Any]:
    if answer is None:
        data: Any = answer_for("mindmap" if "mindmap" in tool else "enrich", prompt)
    else:
        try:
            data = json.loads(answer)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            return {"type": "text", "text": answer}
    return {"type": "tool_use", "id": "toolu_1", "name": tool, "input": data}


def _openai_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": code, "param": None, "code": code}}
    return web.json_response(body, status=status, headers=headers or {})


def _anthropic_error(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return web.json_response(body, status=status, headers=headers or {})
