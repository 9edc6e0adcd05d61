"""A gateway forgets a session stopped elsewhere at once, and never trusts one it may
have missed the stop of (the subscription lost while Redis restarted)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from ingest.owner_cache import OwnSessions
from ingest.stop_listener import StopListener
from mindhit.session_stops import StopNote, note_stopped
from tests.support.servers import PrivateRedis

pytestmark = pytest.mark.integration

USER = "0190a0b0-0000-7000-8000-0000000000f1"


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis", appendonly=False)
    server.start()
    yield server
    server.kill()


async def _until(check: Callable[[], bool], what: str) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never: {what}")


async def test_a_stop_elsewhere_is_forgotten_at_once_and_a_lost_subscription_trusts_nothing(
    private_redis: PrivateRedis,
) -> None:
    client = aioredis.Redis.from_url(private_redis.url, socket_timeout=5.0)
    own = OwnSessions(ttl_s=60.0)
    listener = StopListener(client, "mhstops", own, retry_s=0.1)
    task = asyncio.create_task(listener.run())
    try:
        await asyncio.wait_for(listener.subscribed.wait(), 5)
        own.remember(USER, {"s1": USER, "s2": USER})
        await note_stopped(client, "mhstops", USER, "s1", 60, StopNote("user", 1))
        await _until(lambda: own.unknown(USER, ["s1"]) == ["s1"], "s1 forgotten")
        assert own.unknown(USER, ["s2"]) == []  # the others stay trusted

        private_redis.kill()  # a stop published now is lost with the connection
        await _until(lambda: not listener.subscribed.is_set(), "the subscription lost")
        own.remember(USER, {"s3": USER})
        private_redis.start()
        await asyncio.wait_for(listener.subscribed.wait(), 10)
        assert own.unknown(USER, ["s2", "s3"]) == ["s2", "s3"]  # asked again: told if stopped
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()
