"""One test suite for the AI provider interface, run against every provider we ship.

Gemini, OpenAI and Anthropic run their real SDK clients against local stubs speaking each
vendor's REST shape (their default answers); the local provider runs as is. Whatever the
backend, callers may rely on these rules.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from mindhit.corpus import load_pages
from processors.ai.anthropic_provider import AnthropicProvider
from processors.ai.base import AIProvider, MindmapPage, PageInput
from processors.ai.gemini import GeminiProvider
from processors.ai.local import LocalProvider
from processors.ai.openai_provider import OpenAIProvider
from tests.support.ai_stubs import AnthropicStub, OpenAIStub, StubServer
from tests.support.gemini_stub import GeminiStub

pytestmark = pytest.mark.integration


_REMOTE: dict[str, tuple[type[StubServer], type[AIProvider]]] = {
    "gemini": (GeminiStub, GeminiProvider),  # type: ignore[dict-item]
    "openai": (OpenAIStub, OpenAIProvider),  # type: ignore[dict-item]
    "anthropic": (AnthropicStub, AnthropicProvider),  # type: ignore[dict-item]
}


@pytest.fixture(params=["local", "gemini", "openai", "anthropic"])
async def provider(request: pytest.FixtureRequest) -> AsyncIterator[AIProvider]:
    if request.param == "local":
        yield LocalProvider()
        return
    stub_type, provider_type = _REMOTE[request.param]
    async with stub_type(api_key="contract") as stub:
        remote = provider_type(  # type: ignore[call-arg]
            api_key="contract", model="m", base_url=stub.base_url, attempts=1
        )
        yield remote
        await remote.aclose()


def _session() -> list[MindmapPage]:
    pages = load_pages()[::5]
    listed = [
        MindmapPage(
            url=p.url, title=p.title, text=p.text, dwell_ms=7_000 * (i + 1), url_hash=f"h{i}"
        )
        for i, p in enumerate(pages)
    ]
    return [*listed, listed[0]]  # a page visited twice


async def test_enrichment_has_summary_three_to_seven_tags_and_topic(provider: AIProvider) -> None:
    page = load_pages()[9]
    result = await provider.enrich(PageInput(url=page.url, title=page.title, text=page.text))
    assert result.summary.strip() and result.topic.strip()
    assert 3 <= len(result.tags) <= 7
    assert len(set(result.tags)) == len(result.tags)


async def test_mindmap_has_every_distinct_page_once_with_dwell_weights(
    provider: AIProvider,
) -> None:
    pages = _session()
    root = await provider.build_mindmap(pages)
    leaves = [leaf for branch in root.children for leaf in branch.children]
    assert sorted(leaf.url for leaf in leaves) == sorted({p.url for p in pages})
    assert all(leaf.url_hash.startswith("h") and not leaf.children for leaf in leaves)
    assert root.weight_ms == sum(p.dwell_ms for p in pages)
    twice = next(leaf for leaf in leaves if leaf.url == pages[0].url)
    assert twice.weight_ms == 2 * pages[0].dwell_ms
    assert root.label and all(branch.label for branch in root.children)


async def test_empty_session_gives_an_empty_map(provider: AIProvider) -> None:
    root = await provider.build_mindmap([])
    assert root.children == [] and root.weight_ms == 0 and root.label


async def test_every_branch_has_a_label_and_a_one_sentence_summary(provider: AIProvider) -> None:
    root = await provider.build_mindmap(_session())
    assert root.children
    for branch in root.children:
        assert branch.label.strip() and " & " not in branch.label
        assert branch.summary.strip()
    assert root.fallback_from == ""
