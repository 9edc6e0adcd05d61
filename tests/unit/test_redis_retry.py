"""Waiting for Redis at start-up: what is retried, how long it waits, what it says."""

from __future__ import annotations

import pytest
import redis
import structlog
from redis.exceptions import ClusterDownError, ResponseError

from mindhit.redis_retry import LOGGED_EVERY, backoff_s, until_reachable


async def test_an_unreachable_redis_is_waited_for_and_said_once_per_stretch() -> None:
    failures = [redis.ConnectionError("refused")] * 12 + [ClusterDownError("CLUSTERDOWN")]
    pauses: list[float] = []

    async def step() -> str:
        if failures:
            raise failures.pop(0)
        return "done"

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    with structlog.testing.capture_logs() as logs:
        assert await until_reachable(step, what="declaring", sleep=sleep) == "done"
    assert pauses == [backoff_s(n) for n in range(1, 14)] and max(pauses) == 2.0
    retrying = [e for e in logs if e["event"] == "redis_unreachable_retrying"]
    assert [e["attempt"] for e in retrying] == [1, 1 + LOGGED_EVERY]
    assert retrying[0]["what"] == "declaring" and retrying[0]["retry_in_s"] == 0.1
    assert [e["failed_attempts"] for e in logs if e["event"] == "redis_reachable_again"] == [13]


async def test_other_errors_and_a_stopping_component_are_not_retried() -> None:
    async def refused() -> None:
        raise ResponseError("WRONGTYPE")

    with pytest.raises(ResponseError):
        await until_reachable(refused, what="x")

    async def down() -> None:
        raise redis.ConnectionError("refused")

    with pytest.raises(redis.ConnectionError):
        await until_reachable(down, what="x", stopping=lambda: True)
