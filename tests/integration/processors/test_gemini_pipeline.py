"""The mind-map stage with the real google-genai client against the local Gemini stub.

Malformed model answers are rejected and retried; when the attempts run out the local
provider builds the map instead (marked as the fallback), the session completes and
the failure is dead-lettered; once the model answers properly, a ``mindhit dlq``
retry rebuilds the map with Gemini, replacing the fallback one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from mindhit.dlq import list_dead_letters, retry_dead_letter
from mindhit.settings import Settings
from processors.ai.gemini import GeminiProvider
from schema.derived import MindmapBuilt, SessionStatusChanged
from schema.topics import SESSIONS_TOPIC
from tests.integration.processors.pipeline import Pipeline
from tests.support.gemini_stub import GeminiStub, StubReply
from tests.unit.processors.browsing import Browser

pytestmark = pytest.mark.integration


@pytest.fixture
async def stub() -> AsyncIterator[GeminiStub]:
    async with GeminiStub() as server:
        yield server


async def test_malformed_answers_fall_back_to_local_and_a_retry_rebuilds_with_gemini(
    stub: GeminiStub, aredis: aioredis.Redis, settings: Settings
) -> None:
    provider = GeminiProvider(
        api_key="test-key",
        model="gemini-2.5-flash",
        base_url=stub.base_url,
        timeout_s=5,
        attempts=2,
        backoff_s=0.01,
    )
    pipe = Pipeline(aredis, settings, provider=provider)
    b = Browser("c1", "0190a0b0-0000-7000-8000-0000000000e1")
    b.activate(1, "https://docs.python.example/asyncio", title="asyncio — event loop")
    b.wait(8_000).activate(2, "https://www.bbcgoodfood.example/sourdough", title="Sourdough bread")
    b.wait(5_000).stop()
    await pipe.feed("gina", "c1", b.events)
    stub.push(StubReply(answer="this is not JSON"), StubReply(answer='{"unexpected": true}'))
    await pipe.drain()

    sessions = await pipe.derived(SESSIONS_TOPIC)
    statuses = [s.status for s in sessions if isinstance(s, SessionStatusChanged)]
    assert statuses == ["processing", "completed"]
    (fallback,) = [s for s in sessions if isinstance(s, MindmapBuilt)]
    assert fallback.provider == "local" and fallback.root.fallback_from == "gemini"
    (letter,) = await list_dead_letters(pipe.redis, pipe.settings)
    assert letter.kind == "mindmap" and "malformed model answer" in letter.error

    await retry_dead_letter(pipe.redis, pipe.settings, letter.dlq_id, clock=pipe.clock)
    await pipe.drain()  # the stub's script is empty: it now answers validly
    sessions = await pipe.derived(SESSIONS_TOPIC)
    statuses = [s.status for s in sessions if isinstance(s, SessionStatusChanged)]
    assert statuses == ["processing", "completed", "processing", "completed"]
    built = [s for s in sessions if isinstance(s, MindmapBuilt)]
    assert [b.provider for b in built] == ["local", "gemini"]
    assert built[-1].root.fallback_from == ""
    await provider.aclose()
