"""The cluster client's bound on one call: how long it is, and what it raises."""

from __future__ import annotations

import asyncio

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from mindhit.redis_client import UNREACHABLE, connect_redis
from mindhit.redis_cluster import CALL_TIMEOUT_S, ReshardingCluster, call_timeout_for, within


@given(st.none() | st.floats(min_value=0.001, max_value=3600))
def test_the_bound_never_cuts_off_a_reply_the_socket_timeout_allows(
    socket_timeout: float | None,
) -> None:
    bound = call_timeout_for(socket_timeout)
    assert bound >= CALL_TIMEOUT_S
    if socket_timeout is not None:
        assert bound >= 2 * socket_timeout + 2  # a timed-out try, then one more
        assert call_timeout_for(socket_timeout * 2) >= bound


def test_the_default_bound_is_twelve_seconds_and_follows_the_clients_socket_timeout() -> None:
    assert connect_redis("redis+cluster://127.0.0.1:1/0").call_timeout_s == 12.0  # type: ignore[attr-defined]
    slow = connect_redis("redis+cluster://127.0.0.1:1/0", socket_timeout=10.0)
    assert isinstance(slow, ReshardingCluster) and slow.call_timeout_s == 22.0


async def test_a_call_past_its_bound_fails_as_an_unreachable_redis() -> None:
    cancelled = asyncio.Event()

    async def frozen() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()  # redis-py closes the connection here
            raise

    with pytest.raises(redis.TimeoutError, match=r"no reply to GET within 0\.05 s") as caught:
        await within(0.05, frozen(), "GET")
    assert isinstance(caught.value, UNREACHABLE) and cancelled.is_set()


async def test_a_call_within_its_bound_returns_or_raises_as_it_would() -> None:
    async def answers() -> int:
        return 7

    async def times_out_itself() -> None:
        raise TimeoutError("not the bound's")

    assert await within(1.0, answers(), "GET") == 7
    with pytest.raises(TimeoutError, match="not the bound's"):
        await within(1.0, times_out_itself(), "GET")
