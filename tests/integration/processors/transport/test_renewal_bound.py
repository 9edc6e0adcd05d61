"""A worker renews no partition lease once a lease has passed since it sent its last group
heartbeat that succeeded: the group counts it gone a lease after that heartbeat reached
Redis, and then waits for its leases to expire."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from mindhit.redis_client import connect_redis
from processors.transport.catalog import TopicCatalog
from processors.transport.context import GroupContext
from processors.transport.membership import GroupMembership
from processors.transport.options import TransportOptions

pytestmark = pytest.mark.integration

PARTITIONS = 4
LEASE_MS = 900


async def test_no_renewal_a_lease_after_the_last_heartbeat_was_sent(
    redis_url: str, key_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The heartbeat was dated when its answer came (up to half a lease after Redis dated
    it, on a slow node): leases were renewed that long after the group counted the worker
    gone."""
    options = TransportOptions(redis_url=redis_url, prefix=key_prefix, lease_ms=LEASE_MS)
    ctx = GroupContext(
        options=options,
        catalog=TopicCatalog(lambda: connect_redis(redis_url), key_prefix, PARTITIONS),
        group="g",
        member="worker-a",
        new_client=lambda: connect_redis(redis_url),
    )

    async def on_lost(exc: BaseException) -> None:
        pass

    membership = GroupMembership(ctx, on_lost=on_lost)
    loop = asyncio.get_running_loop()
    lease_s = LEASE_MS / 1000
    await membership.start()
    try:
        generation = await membership.join(PARTITIONS)
        assert await membership.take(set(range(PARTITIONS)), generation.number)
        real_beat = membership.group_state.heartbeat
        real_renew = membership.leases.renew_by_node
        sent: list[float] = []
        renewed: list[float] = []

        async def heartbeat(*args: Any) -> Any:
            if sent:
                raise ConnectionError("the group's node does not answer")
            sent.append(loop.time())
            result = await real_beat(*args)
            await asyncio.sleep(0.4 * lease_s)  # its answer slow to come back
            return result

        async def renew(*args: Any, **kwargs: Any) -> set[int]:
            renewed.append(loop.time())
            return await real_renew(*args, **kwargs)

        monkeypatch.setattr(membership.group_state, "heartbeat", heartbeat)
        monkeypatch.setattr(membership.leases, "renew_by_node", renew)
        await asyncio.sleep(2 * lease_s)
        assert sent and renewed
        assert max(renewed) - sent[0] < lease_s + 0.02, [t - sent[0] for t in renewed]
    finally:
        await membership.stop()
