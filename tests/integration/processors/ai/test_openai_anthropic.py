"""The real ``openai`` and ``anthropic`` SDKs against local stubs: answers, 429, bad answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mindhit.cli import cli
from mindhit.corpus import load_pages
from mindhit.settings import Settings
from processors.ai.anthropic_provider import AnthropicProvider
from processors.ai.base import AIError, MindmapPage, PageInput
from processors.ai.factory import provider_from_settings
from processors.ai.openai_provider import OpenAIProvider
from tests.support.ai_stubs import AnthropicStub, OpenAIStub, StubReply, StubServer

pytestmark = pytest.mark.integration

Remote = OpenAIProvider | AnthropicProvider
STUBS: dict[str, type[StubServer]] = {"openai": OpenAIStub, "anthropic": AnthropicStub}


@pytest.fixture(params=["openai", "anthropic"])
async def stub(request: pytest.FixtureRequest) -> AsyncIterator[StubServer]:
    async with STUBS[request.param](api_key="stub-key") as server:
        server.vendor = request.param  # type: ignore[attr-defined]
        yield server


def _provider(stub: StubServer, sleeps: list[float], **overrides: object) -> Remote:
    vendor: str = stub.vendor  # type: ignore[attr-defined]
    values: dict[str, object] = {
        f"{vendor}_api_key": "stub-key",
        f"{vendor}_base_url": stub.base_url,
        f"{vendor}_model": "model-test",
    }
    settings = Settings.from_env({}, ai_provider=vendor, **{**values, **overrides})
    provider = provider_from_settings(settings)
    assert isinstance(provider, OpenAIProvider | AnthropicProvider)

    async def record(delay: float) -> None:
        sleeps.append(delay)

    provider._sleep = record
    return provider


def _session(n: int = 6) -> list[MindmapPage]:
    pages = load_pages()
    return [
        MindmapPage(
            url=p.url, title=p.title, text=p.text, dwell_ms=10_000 * (i + 1), url_hash=f"h{i}"
        )
        for i, p in enumerate(pages[:: len(pages) // n][:n])
    ]


def _asked_schema(stub: StubServer) -> dict[str, Any]:
    body = stub.requests[0].body
    if "response_format" in body:
        assert body["response_format"]["json_schema"]["strict"] is True
        return body["response_format"]["json_schema"]["schema"]
    assert body["tool_choice"]["type"] == "tool"
    (tool,) = body["tools"]
    assert tool["name"] == body["tool_choice"]["name"]
    return tool["input_schema"]


async def test_structured_mindmap_answer_becomes_a_validated_tree(stub: StubServer) -> None:
    provider = _provider(stub, [])
    try:
        pages = _session()
        root = await provider.build_mindmap(pages)
    finally:
        await provider.aclose()
    leaves = [leaf for branch in root.children for leaf in branch.children]
    assert sorted(leaf.url for leaf in leaves) == sorted(p.url for p in pages)
    assert root.weight_ms == sum(p.dwell_ms for p in pages)
    assert all(branch.summary for branch in root.children)
    sent = stub.requests[0]
    assert sent.model == "model-test" and sent.api_key == "stub-key"
    assert "subtopics" in _asked_schema(stub)["properties"]


async def test_enrichment_is_parsed_and_checked(stub: StubServer) -> None:
    answer = {"summary": "How to bake pizza.", "tags": ["Pizza", "dough", "oven"]}
    answer["topic"] = "Baking"
    stub.push(StubReply(answer=json.dumps(answer)))
    provider = _provider(stub, [])
    try:
        result = await provider.enrich(
            PageInput(url="https://a.example/p", title="Pizza", text="Dough.")
        )
    finally:
        await provider.aclose()
    assert (result.summary, result.tags, result.topic) == (
        "How to bake pizza.",
        ["pizza", "dough", "oven"],
        "Baking",
    )


async def test_429_is_retried_after_the_servers_retry_after(stub: StubServer) -> None:
    stub.push(StubReply(status=429, headers={"Retry-After": "2"}))
    sleeps: list[float] = []
    provider = _provider(stub, sleeps)
    try:
        root = await provider.build_mindmap(_session(4))
    finally:
        await provider.aclose()
    assert len(stub.requests) == 2 and sleeps == [2.0]
    assert len([leaf for b in root.children for leaf in b.children]) == 4


async def test_5xx_backs_off_exponentially_then_fails_with_the_reason(stub: StubServer) -> None:
    stub.push(*[StubReply(status=503, error_message="overloaded")] * 3)
    sleeps: list[float] = []
    provider = _provider(stub, sleeps, ai_attempts=3)
    try:
        with pytest.raises(AIError) as caught:
            await provider.build_mindmap(_session(3))
    finally:
        await provider.aclose()
    assert len(stub.requests) == 3 and sleeps == [0.5, 1.0]
    assert "503" in caught.value.reason and "overloaded" in caught.value.reason
    assert caught.value.retryable


async def test_malformed_answers_are_retried_then_fail(stub: StubServer) -> None:
    lost_page = {
        "label": "x",
        "why": "y",
        "subtopics": [
            {"label": "a", "why": "b", "summary": "c", "pages": [{"index": 0, "why": ""}]}
        ],
    }
    stub.push(StubReply(answer="this is not json"), StubReply(answer=json.dumps(lost_page)))
    provider = _provider(stub, [], ai_attempts=2)
    try:
        with pytest.raises(AIError) as caught:
            await provider.build_mindmap(_session(3))
    finally:
        await provider.aclose()
    assert len(stub.requests) == 2
    assert "malformed model answer" in caught.value.reason
    assert "in no subtopic" in caught.value.reason


async def test_timeout_fails_within_the_configured_bound(stub: StubServer) -> None:
    stub.push(StubReply(delay_s=5.0), StubReply(delay_s=5.0))
    provider = _provider(stub, [], ai_timeout_s=0.3, ai_attempts=2)
    loop_time = __import__("asyncio").get_running_loop().time
    started = loop_time()
    try:
        with pytest.raises(AIError) as caught:
            await provider.enrich(PageInput(url="https://a.example/", title="T", text="words"))
    finally:
        await provider.aclose()
    assert loop_time() - started < 3.0
    assert "0.3 s" in caught.value.reason or "in time" in caught.value.reason


async def test_bad_api_key_fails_at_once_without_retry(stub: StubServer) -> None:
    provider = _provider(stub, [], **{f"{stub.vendor}_api_key": "wrong"})  # type: ignore[attr-defined]
    try:
        with pytest.raises(AIError) as caught:
            await provider.enrich(PageInput(url="https://a.example/", title="T", text="words"))
    finally:
        await provider.aclose()
    assert len(stub.requests) == 1
    assert "401" in caught.value.reason and not caught.value.retryable


@pytest.mark.parametrize("vendor", ["openai", "anthropic"])
def test_mindmap_command_runs_the_provider_through_a_stub(tmp_path: Path, vendor: str) -> None:
    server = STUBS[vendor](api_key="cli-key")
    base_url = server.start_in_thread()
    try:
        pages: list[dict[str, Any]] = [
            {"url": p.url, "title": p.title, "text": p.text, "dwell_ms": 5_000}
            for p in load_pages()[:5]
        ]
        source = tmp_path / "pages.json"
        source.write_text(json.dumps(pages))
        env = {
            f"MINDHIT_{vendor.upper()}_API_KEY": "cli-key",
            f"MINDHIT_{vendor.upper()}_BASE_URL": base_url,
            "MINDHIT_AI_ATTEMPTS": "1",
        }
        result = CliRunner().invoke(
            cli, ["mindmap", "--input", str(source), "--provider", vendor], env=env
        )
    finally:
        server.stop_thread()
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout)
    assert output["provider"] == vendor
    leaves = [leaf for branch in output["root"]["children"] for leaf in branch["children"]]
    assert sorted(leaf["url"] for leaf in leaves) == sorted(p["url"] for p in pages)
    assert len(server.requests) == 1
