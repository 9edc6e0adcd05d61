"""A user's pipeline health tells them nothing about the other users on their partition.

Users share stream partitions (``partition_for(user_id)``). ``/v1/health`` used to show
the exact number of entries waiting on the user's partition, read afresh on every
request: polling it, an account saw every upload of the other users of its partition
as it arrived (each one an entry more, until the workers caught up), i.e. when they
browse. Only a partition really behind (more than ``BEHIND_ENTRIES`` entries: the
pipeline's state, not one user's browsing) may show in it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient

from mindhit import streams
from mindhit.offsets import save_committed
from mindhit.settings import Settings
from schema.topics import RAW_TOPIC, stream_key
from tests.integration.web.conftest import NOW_MS, sign_up, unique_email
from web.app import create_app
from web.ops import BEHIND_ENTRIES

pytestmark = pytest.mark.integration


@pytest.fixture
async def one_partition(web_settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    """The dashboard of a deployment with one partition: every user shares it."""
    settings = msgspec.structs.replace(web_settings, partitions=1)
    app = create_app(settings, clock=lambda: NOW_MS)
    async with AsyncTestClient(app=app, base_url="http://127.0.0.1") as client:
        yield client


async def _health(client: AsyncTestClient[Any]) -> dict[str, Any]:
    answer = await client.get("/v1/health")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _uploads(redis: aioredis.Redis, stream: str, count: int) -> None:
    """Someone else's uploads, appended to the shared raw partition (not consumed yet)."""
    for _ in range(count):
        await streams.append(
            redis, stream, b"upload", key=str(uuid.uuid4()).encode(), timestamp_ms=NOW_MS
        )


async def test_health_does_not_count_other_users_uploads(
    one_partition: AsyncTestClient[Any], web_settings: Settings, aredis: aioredis.Redis
) -> None:
    client = one_partition
    await sign_up(client, unique_email("watcher"))
    raw = stream_key(web_settings.key_prefix, RAW_TOPIC, 0)
    await _uploads(aredis, raw, 1)
    caught_up = await streams.highwater(aredis, raw)
    await save_committed(aredis, web_settings.key_prefix, "workers", {(RAW_TOPIC, 0): caught_up})
    before = await _health(client)
    await _uploads(aredis, raw, 7)  # another user browses: 7 uploads not consumed yet
    assert await _health(client) == before
    # A partition that is really behind still says so (a state of the pipeline).
    await _uploads(aredis, raw, BEHIND_ENTRIES + 1 - 7)
    behind = await _health(client)
    assert behind["behind"] is True
    assert behind["max_lag"] > BEHIND_ENTRIES
