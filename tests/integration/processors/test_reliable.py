"""An agent survives Redis going away: the entry is retried until Redis is back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis

from mindhit.settings import Settings
from processors.agents.reliable import handle_reliably
from schema.derived import VisitClosed
from schema.log import RawEntry, Upload, encode_raw_entry
from schema.topics import VISITS_TOPIC
from tests.integration.processors.pipeline import Pipeline
from tests.support.servers import PrivateRedis
from tests.unit.processors.browsing import Browser

pytestmark = pytest.mark.integration


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis(appendonly=False)
    server.start()
    yield server
    server.stop()


async def test_entry_waits_for_redis_to_come_back(
    private_redis: PrivateRedis, settings: Settings
) -> None:
    url = f"redis://127.0.0.1:{private_redis.port}/0"
    client = aioredis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
    pipe = Pipeline(client, settings)
    b = Browser("c1", "0190a0b0-0000-7000-8000-0000000000d1")
    b.activate(1, "https://a.example/")
    b.wait(3_000).activate(2, "https://b.example/")
    value = encode_raw_entry(
        RawEntry(
            uploads=[
                Upload(batch_id="b", user_id="dora", client_id="c1", received_at=0, events=b.events)
            ]
        )
    )
    private_redis.stop()
    waits: list[float] = []

    async def record_sleep(seconds: float) -> None:
        waits.append(seconds)
        await asyncio.sleep(0.05)

    task = asyncio.create_task(
        handle_reliably("dwell", pipe.raw.handle, 0, value, sleep=record_sleep, max_backoff_s=0.4)
    )
    while len(waits) < 3:
        await asyncio.sleep(0.05)
    assert not task.done()
    private_redis.start()
    assert await asyncio.wait_for(task, 30) is True
    assert waits[:4] == [0.1, 0.2, 0.4, 0.4][: len(waits[:4])]
    visits = [v for v in await pipe.derived(VISITS_TOPIC) if isinstance(v, VisitClosed)]
    assert [(v.url, v.dwell_ms) for v in visits] == [("https://a.example/", 3_000)]
    await client.aclose()


async def test_an_entry_the_handler_cannot_process_is_skipped() -> None:
    async def broken(partition: int, value: bytes) -> None:
        raise ValueError("unexpected shape")

    assert await handle_reliably("dwell", broken, 0, b"x") is False
