"""The gate that keeps a gateway from acknowledging uploads before Redis's durability is known.

A gateway started while Redis was down checks Redis when the first request (or
``/readyz``) finds it answering. Many uploads arrive at once: they must share one check,
a refusal must not cost every upload a round of ``CONFIG``/``INFO`` calls, and a Redis
whose persistence an operator turned on is taken without a restart.
"""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from ingest.durability import REFUSAL_KEPT_S, DurabilityGate
from mindhit.redis_durability import VolatileRedisError


class ScriptedRedis:
    """Answers the durability check as scripted: ``"ok"``, ``"volatile"`` or ``"down"``."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.asked = 0

    async def check(self) -> None:
        self.asked += 1
        await asyncio.sleep(0.01)  # a round trip: concurrent callers overlap it
        if self.answer == "volatile":
            raise VolatileRedisError("appendonly no, no RDB save points")
        if self.answer == "down":
            raise RedisConnectionError("connection refused")


async def test_concurrent_requests_share_one_check_and_then_pass_freely() -> None:
    redis = ScriptedRedis("ok")
    gate = DurabilityGate(redis.check)
    await asyncio.gather(*(gate.ensure() for _ in range(50)))
    assert redis.asked == 1 and gate.checked
    await gate.ensure()
    assert redis.asked == 1


async def test_a_refusal_stands_for_a_while_then_redis_is_asked_again() -> None:
    now = [1000.0]
    redis = ScriptedRedis("volatile")
    gate = DurabilityGate(redis.check, clock=lambda: now[0])
    for _ in range(20):
        with pytest.raises(VolatileRedisError, match="appendonly no"):
            await gate.ensure()
    assert redis.asked == 1 and not gate.checked
    now[0] += REFUSAL_KEPT_S + 0.1
    redis.answer = "ok"  # the operator turned persistence on
    await gate.ensure()
    assert redis.asked == 2 and gate.checked


async def test_redis_unreachable_is_asked_again_on_the_next_request() -> None:
    redis = ScriptedRedis("down")
    gate = DurabilityGate(redis.check)
    await gate.at_start_up()  # logged, not raised: the gateway starts unready
    assert not gate.checked
    with pytest.raises(RedisConnectionError):
        await gate.ensure()
    redis.answer = "ok"
    await gate.ensure()
    assert redis.asked == 3 and gate.checked


async def test_a_volatile_redis_at_start_up_ends_the_start() -> None:
    gate = DurabilityGate(ScriptedRedis("volatile").check)
    with pytest.raises(VolatileRedisError):
        await gate.at_start_up()
    assert not gate.checked


async def test_a_readiness_probe_asks_again_while_a_refusal_stands() -> None:
    redis = ScriptedRedis("volatile")
    gate = DurabilityGate(redis.check, clock=lambda: 0.0)
    with pytest.raises(VolatileRedisError):
        await gate.ensure()
    redis.answer = "ok"
    with pytest.raises(VolatileRedisError):
        await gate.ensure()  # an upload: the refusal stands
    await gate.ensure(again=True)
    assert redis.asked == 2 and gate.checked
