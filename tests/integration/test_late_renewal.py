"""A lease renewal or a group heartbeat a frozen Redis runs only after it thawed does not
revive the lease or the member.

The member sent it before the node froze (and may be dead since); run at the thaw, it
held the partition (or kept the member in the group's view) a whole lease past the thaw
however long the freeze lasted, so the handover took longer than the documented bound.
Real redis-server, frozen by SIGSTOP.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as aioredis

from mindhit.group_state import GroupState, HeartbeatLate
from mindhit.leases import Leases
from tests.support.servers import PrivateRedis

pytestmark = pytest.mark.integration

LEASE_MS = 600


@asynccontextmanager
async def _group(
    server: PrivateRedis, prefix: str
) -> AsyncIterator[
    tuple[aioredis.Redis, aioredis.Redis, GroupState, GroupState, subprocess.Popen[bytes]]
]:
    """The member "old" (its client gives up on a call after 5 s) and its rival "new", each
    with a client of its own, and the server's process to freeze."""
    member = aioredis.Redis(port=server.port, socket_timeout=5)
    rival = aioredis.Redis(port=server.port)
    process = server.process
    assert process is not None
    try:
        old, new = (
            GroupState(prefix, "g", "old", LEASE_MS),
            GroupState(prefix, "g", "new", LEASE_MS),
        )
        yield member, rival, old, new, process
    finally:
        await member.aclose()
        await rival.aclose()


async def test_a_renewal_run_after_its_node_thawed_does_not_revive_the_lease(
    volatile_redis: PrivateRedis,
) -> None:
    member = aioredis.Redis(port=volatile_redis.port, socket_timeout=5)
    rival = aioredis.Redis(port=volatile_redis.port)
    old, new = Leases("mhlate", "g", "old", LEASE_MS), Leases("mhlate", "g", "new", LEASE_MS)
    process = volatile_redis.process
    assert process is not None
    try:
        assert await old.renew(member, {0}) == {0}
        process.send_signal(signal.SIGSTOP)
        try:  # the heartbeat's renewal, sent to the frozen node and given up on
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(old.renew(member, {0}, held=True), LEASE_MS / 2000)
            await asyncio.sleep(2 * LEASE_MS / 1000)  # the lease lapses (Redis's clock)
        finally:
            process.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.1)  # the node has run the late renewal by now
        assert await new.renew(rival, {0}) == {0}  # taken at once, not a lease later
        assert await old.holder(rival, 0) == "new"
        # A live member whose lease lapsed unclaimed takes it again with its renewal.
        await asyncio.sleep(2 * LEASE_MS / 1000)
        assert await old.renew(member, {0}, held=True) == {0}
        assert await old.holder(rival, 0) == "old"
    finally:
        await member.aclose()
        await rival.aclose()


async def test_a_heartbeat_run_after_its_node_thawed_does_not_keep_the_member_in_the_group(
    volatile_redis: PrivateRedis,
) -> None:
    async with _group(volatile_redis, "mhlate") as (member, rival, old, new, process):
        assert (await old.heartbeat(member, 4)).members == ("old",)
        process.send_signal(signal.SIGSTOP)
        try:  # the heartbeat, sent to the frozen node and given up on
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(old.heartbeat(member, 4), LEASE_MS / 2000)
            await asyncio.sleep(2 * LEASE_MS / 1000)  # "old" expires (Redis's clock)
        finally:
            process.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.1)  # the node has run the late heartbeat by now
        assert (await new.heartbeat(rival, 4)).members == ("new",)  # "old" is gone at once
        # A live member's next heartbeat, sent in time, counts again.
        assert (await old.heartbeat(member, 4)).members == ("new", "old")
        # Redis's clock a lease ahead of what the member last read (a failover to a node
        # whose clock is ahead): the heartbeat is refused and says so, as a failed one
        # (a timeout); the next one is dated by the new clock and counts.
        old._redis_ms -= LEASE_MS  # type: ignore[operator]
        with pytest.raises(HeartbeatLate):
            await old.heartbeat(member, 4)
        assert (await old.heartbeat(member, 4)).members == ("new", "old")


async def test_a_first_heartbeat_run_after_its_node_thawed_does_not_add_the_member(
    volatile_redis: PrivateRedis,
) -> None:
    """A member starting while the node is frozen, which gives up (and may die) before the
    thaw: its first heartbeat, run at the thaw, does not put it in the group's view."""
    async with _group(volatile_redis, "mhfirst") as (member, rival, old, new, process):
        await member.ping()  # connected before the freeze: the heartbeat itself is sent
        process.send_signal(signal.SIGSTOP)
        try:  # the first heartbeat, sent to the frozen node and given up on
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(old.heartbeat(member, 4), LEASE_MS / 2000)
            await asyncio.sleep(2 * LEASE_MS / 1000)
        finally:
            process.send_signal(signal.SIGCONT)
        await asyncio.sleep(0.1)  # the node has run what it was sent by now
        assert (await new.heartbeat(rival, 4)).members == ("new",)  # no "old" for a session
        # The member, alive after all, joins with its next heartbeat.
        assert (await old.heartbeat(member, 4)).members == ("new", "old")
