"""The real google-genai client against a local Gemini stub: answers, 429, bad answers, timeouts."""

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
from processors.ai.base import AIError, MindmapPage, PageInput
from processors.ai.factory import provider_from_settings
from processors.ai.gemini import GeminiProvider
from tests.support.gemini_stub import GeminiStub, StubReply

pytestmark = pytest.mark.integration


@pytest.fixture
async def stub() -> AsyncIterator[GeminiStub]:
    async with GeminiStub(api_key="stub-key") as server:
        yield server


def _provider(stub: GeminiStub, sleeps: list[float], **overrides: object) -> GeminiProvider:
    settings = Settings.from_env(
        {},
        ai_provider="gemini",
        gemini_api_key="stub-key",
        gemini_base_url=stub.base_url,
        gemini_model="gemini-test",
        **overrides,
    )
    provider = provider_from_settings(settings)
    assert isinstance(provider, GeminiProvider)

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


async def test_structured_mindmap_answer_becomes_a_validated_tree(stub: GeminiStub) -> None:
    provider = _provider(stub, [])
    try:
        pages = _session()
        root = await provider.build_mindmap(pages)
    finally:
        await provider.aclose()
    leaves = [leaf for branch in root.children for leaf in branch.children]
    assert sorted(leaf.url for leaf in leaves) == sorted(p.url for p in pages)
    assert {leaf.url_hash for leaf in leaves} == {p.url_hash for p in pages}
    assert root.weight_ms == sum(p.dwell_ms for p in pages)
    sent = stub.requests[0]
    assert sent.model == "gemini-test" and sent.api_key == "stub-key"
    assert sent.body["generationConfig"]["responseMimeType"] == "application/json"
    assert "subtopics" in sent.body["generationConfig"]["responseSchema"]["properties"]


async def test_enrichment_is_parsed_from_structured_output(stub: GeminiStub) -> None:
    answer = {
        "summary": "How to bake pizza.",
        "tags": ["Pizza", "dough", "oven", "pizza"],
        "topic": "Baking",
    }
    stub.push(StubReply(answer=json.dumps(answer)))
    provider = _provider(stub, [])
    try:
        result = await provider.enrich(
            PageInput(url="https://a.example/p", title="Pizza", text="Dough.")
        )
    finally:
        await provider.aclose()
    assert result.summary == "How to bake pizza."
    assert result.tags == ["pizza", "dough", "oven"]
    assert result.topic == "Baking"


async def test_429_is_retried_after_the_servers_retry_after(stub: GeminiStub) -> None:
    stub.push(StubReply(status=429, headers={"Retry-After": "2"}))
    sleeps: list[float] = []
    provider = _provider(stub, sleeps)
    try:
        root = await provider.build_mindmap(_session(4))
    finally:
        await provider.aclose()
    assert len(stub.requests) == 2
    assert sleeps == [2.0]
    assert len([leaf for b in root.children for leaf in b.children]) == 4


async def test_5xx_backs_off_exponentially_then_fails_with_the_reason(stub: GeminiStub) -> None:
    stub.push(*[StubReply(status=503, error_message="overloaded")] * 3)
    sleeps: list[float] = []
    provider = _provider(stub, sleeps, ai_attempts=3)
    try:
        with pytest.raises(AIError) as caught:
            await provider.build_mindmap(_session(3))
    finally:
        await provider.aclose()
    assert len(stub.requests) == 3
    assert sleeps == [0.5, 1.0]
    assert "503" in caught.value.reason and caught.value.retryable


async def test_malformed_answer_is_rejected_retried_then_fails(stub: GeminiStub) -> None:
    lost_page = {
        "label": "x",
        "why": "y",
        "subtopics": [{"label": "a", "why": "b", "pages": [{"index": 0, "why": ""}]}],
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


async def test_malformed_then_valid_answer_succeeds(stub: GeminiStub) -> None:
    stub.push(StubReply(answer=json.dumps({"summary": "s", "tags": ["one"], "topic": "t"})))
    provider = _provider(stub, [], ai_attempts=2)
    try:
        result = await provider.enrich(
            PageInput(url="https://a.example/", title="T", text="Some words here.")
        )
    finally:
        await provider.aclose()
    assert len(stub.requests) == 2
    assert 3 <= len(result.tags) <= 7


async def test_timeout_fails_within_the_configured_bound(stub: GeminiStub) -> None:
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
    assert "no answer within 0.3 s" in caught.value.reason


async def test_bad_api_key_fails_at_once_without_retry(stub: GeminiStub) -> None:
    provider = GeminiProvider(api_key="wrong", model="m", base_url=stub.base_url, attempts=3)
    try:
        with pytest.raises(AIError) as caught:
            await provider.enrich(PageInput(url="https://a.example/", title="T", text="words"))
    finally:
        await provider.aclose()
    assert len(stub.requests) == 1
    assert "400" in caught.value.reason and not caught.value.retryable


def test_mindmap_command_runs_gemini_through_a_stub_in_a_thread(tmp_path: Path) -> None:
    server = GeminiStub(api_key="cli-key")
    base_url = server.start_in_thread()
    try:
        pages: list[dict[str, Any]] = [
            {"url": p.url, "title": p.title, "text": p.text, "dwell_ms": 5_000}
            for p in load_pages()[:5]
        ]
        source = tmp_path / "pages.json"
        source.write_text(json.dumps(pages))
        env = {
            "MINDHIT_GEMINI_API_KEY": "cli-key",
            "MINDHIT_GEMINI_BASE_URL": base_url,
            "MINDHIT_AI_ATTEMPTS": "1",
        }
        result = CliRunner().invoke(
            cli, ["mindmap", "--input", str(source), "--provider", "gemini"], env=env
        )
    finally:
        server.stop_thread()
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout)
    assert output["provider"] == "gemini"
    leaves = [leaf for branch in output["root"]["children"] for leaf in branch["children"]]
    assert sorted(leaf["url"] for leaf in leaves) == sorted(p["url"] for p in pages)
    assert len(server.requests) == 1


def test_mindmap_command_reports_a_failing_provider(tmp_path: Path) -> None:
    server = GeminiStub(api_key="cli-key")
    server.push(StubReply(answer="[]"))
    base_url = server.start_in_thread()
    try:
        source = tmp_path / "pages.json"
        source.write_text(json.dumps([{"url": "https://a.example/", "title": "A", "text": "t"}]))
        env = {
            "MINDHIT_GEMINI_API_KEY": "cli-key",
            "MINDHIT_GEMINI_BASE_URL": base_url,
            "MINDHIT_AI_ATTEMPTS": "1",
        }
        result = CliRunner().invoke(
            cli, ["mindmap", "--input", str(source), "--provider", "gemini"], env=env
        )
    finally:
        server.stop_thread()
    assert result.exit_code == 1
    assert "mind map failed" in result.output and "malformed model answer" in result.output
