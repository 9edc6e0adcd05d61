"""The projector group in one process, on real Redis and PostgreSQL: settle, hand over, fence,
and keep the leases on the Redis Cluster masters that answer while one is frozen."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import RedisError

from mindhit.keys import PROJECTOR_GROUP, group_members_key
from mindhit.leases import Leases
from mindhit.redis_client import connect_redis
from mindhit.settings import Settings
from projector import fencing
from projector.group import ProjectorGroup
from tests.support.redis_cluster import PrivateRedisCluster, leases_taken_while_frozen

pytestmark = pytest.mark.integration

PARTITIONS = 8
TTL_MS = 900


@pytest.fixture
def conns(
    database_url: str, pg: psycopg.Connection[Any]
) -> Iterator[list[psycopg.Connection[Any]]]:
    """One connection per member (``pg`` first: it empties the fence table)."""
    with psycopg.connect(database_url) as a, psycopg.connect(database_url) as b:
        yield [a, b]


def _member(
    redis: aioredis.Redis, settings: Settings, name: str, conn: psycopg.Connection[Any]
) -> ProjectorGroup:
    async def claim(partitions: set[int]) -> dict[int, int]:
        return await asyncio.to_thread(fencing.claim, conn, partitions, name)

    return ProjectorGroup(redis, settings.key_prefix, PARTITIONS, name, TTL_MS, claim)


async def test_members_settle_on_disjoint_partitions_and_a_leaver_hands_over_fenced(
    settings: Settings, aredis: aioredis.Redis, conns: list[psycopg.Connection[Any]]
) -> None:
    a, b = (_member(aredis, settings, n, c) for n, c in zip("ab", conns, strict=True))
    stop = asyncio.Event()
    await a.beat()
    await b.beat()
    await a.beat()  # both see the generation of two
    ta, tb = await asyncio.wait_for(asyncio.gather(a.settle(stop), b.settle(stop)), 10)
    assert ta is not None and tb is not None
    assert sorted([len(ta), len(tb)]) == [4, 4] and set(ta) | set(tb) == set(range(PARTITIONS))
    claimed = dict(conns[0].execute("SELECT partition, holder FROM partition_fences").fetchall())
    conns[0].commit()
    assert claimed == {**dict.fromkeys(ta, "a"), **dict.fromkeys(tb, "b")}

    # b leaves: a's next beat starts a generation of one, and a takes b's partitions over
    # with new tokens; b's tokens no longer pass the fence.
    await b.leave()
    await a.beat()
    assert a.changed.is_set()
    again = await asyncio.wait_for(a.settle(stop), 10)
    assert again is not None and set(again) == set(range(PARTITIONS))
    assert {p: again[p] for p in ta} == ta  # a's own partitions kept their claims
    assert all(again[p] == tb[p] + 1 for p in tb)
    with conns[1].transaction(), pytest.raises(fencing.Fenced) as fenced:
        fencing.check(conns[1], tb)
    assert fenced.value.partitions == set(tb)
    with conns[0].transaction():
        fencing.check(conns[0], again)  # the owner's tokens pass
    await a.leave()


async def test_a_member_waits_for_a_partition_until_its_holders_lease_expires(
    settings: Settings, aredis: aioredis.Redis, conns: list[psycopg.Connection[Any]]
) -> None:
    a, b = (_member(aredis, settings, n, c) for n, c in zip("ab", conns, strict=True))
    stop = asyncio.Event()
    await a.beat()
    assert await asyncio.wait_for(a.settle(stop), 10) is not None  # a holds all 8
    await b.beat()  # b joins; a (stopped, say) never beats again, nor releases
    beating = asyncio.create_task(b.heartbeats(stop))
    loop = asyncio.get_running_loop()
    began = loop.time()
    try:
        tb = await asyncio.wait_for(b.settle(stop), 15)
    finally:
        stop.set()
        await beating
    waited = loop.time() - began
    assert tb is not None and set(tb) == set(range(PARTITIONS))  # a dropped out meanwhile
    assert waited >= TTL_MS / 1000 * 0.5  # not before a's leases could have expired
    assert all(t == 2 for t in tb.values())  # claimed again, after a's claims
    await b.leave()


def test_a_claim_ends_the_open_commit_of_a_holder_whose_lease_expired(
    database_url: str, pg: psycopg.Connection[Any]
) -> None:
    """A replica paused in the middle of a fold commit holds its fence rows: the new
    owner's claim waits a moment, then ends that transaction (rolled back, nothing of it
    kept) and takes the partitions, instead of waiting for the paused replica to resume."""
    old, new, busy = "paused-replica", "new-owner", "busy-replica"
    with (
        psycopg.connect(database_url, application_name=fencing.connection_name(old)) as paused,
        psycopg.connect(database_url, application_name=fencing.connection_name(new)) as claimer,
        psycopg.connect(database_url, application_name=fencing.connection_name(busy)) as live,
        psycopg.connect(database_url, application_name="bystander") as bystander,
    ):
        tokens = fencing.claim(paused, range(4), old)
        fencing.claim(live, [4], busy)
        fencing.check(paused, {p: tokens[p] for p in (2, 3)})  # a commit in flight: rows locked
        paused.execute("CREATE TEMP TABLE half_done AS SELECT 1 AS x")  # its other writes
        live.execute("SELECT 1")  # folding other partitions: a transaction, not on row 4
        bystander.execute("SELECT 1")  # another client's open transaction, not a holder

        moved = fencing.claim(claimer, [2, 3, 4], new, wait_s=0.2)

        assert moved == {2: tokens[2] + 1, 3: tokens[3] + 1, 4: 2}
        with pytest.raises(psycopg.OperationalError):
            paused.execute("SELECT 1")  # its session was ended: the commit never happens
        assert live.execute("SELECT 1").fetchone() == (1,)  # a holder not in the way: kept
        assert bystander.execute("SELECT 1").fetchone() == (1,)
        fences = dict(pg.execute("SELECT partition, holder FROM partition_fences").fetchall())
        assert fences == {0: old, 1: old, 2: new, 3: new, 4: new}


def test_a_claim_waits_for_a_holder_that_commits_in_time(
    database_url: str, pg: psycopg.Connection[Any]
) -> None:
    """A previous holder whose commit ends within the wait keeps its session and its commit."""
    old = "slow-replica"
    with (
        psycopg.connect(database_url, application_name=fencing.connection_name(old)) as slow,
        psycopg.connect(database_url) as claimer,
    ):
        tokens = fencing.claim(slow, [5], old)
        fencing.check(slow, tokens)
        committing = threading.Timer(0.3, slow.commit)
        committing.start()
        assert fencing.claim(claimer, [5], "next", wait_s=5.0) == {5: tokens[5] + 1}
        committing.join()
        assert slow.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.slow
async def test_a_replica_keeps_the_healthy_masters_leases_while_one_master_is_frozen(
    own_cluster: Callable[..., PrivateRedisCluster], database_url: str, pg: psycopg.Connection[Any]
) -> None:
    """A replica holding partitions on every master of a Redis Cluster keeps those on the
    masters that answer while one master is frozen for three leases (nobody else can take
    them), and holds every partition once it answers again. Before, its heartbeat renewed
    all leases in one call, which failed as a whole, so every lease lapsed."""
    cluster = own_cluster(node_timeout_ms=60_000)  # frozen ~9 s: no failover
    ttl_ms, prefix = 3000, "projbeat"
    members = group_members_key(prefix, PROJECTOR_GROUP)
    frozen = next(p for p in cluster.ports if p != cluster.owner(key_slot(members.encode())))
    client = connect_redis(cluster.url)
    rival = Leases(prefix, PROJECTOR_GROUP, "replica-b", ttl_ms)
    stop = asyncio.Event()
    with psycopg.connect(database_url) as conn:

        async def claim(partitions: set[int]) -> dict[int, int]:
            return await asyncio.to_thread(fencing.claim, conn, partitions, "replica-a")

        replica = ProjectorGroup(client, prefix, PARTITIONS, "replica-a", ttl_ms, claim)
        await replica.beat()
        assert await asyncio.wait_for(replica.settle(stop), 10) is not None
        beating = asyncio.create_task(replica.heartbeats(stop))
        owner = {p: cluster.owner(key_slot(rival.key(p).encode())) for p in range(PARTITIONS)}
        healthy = {p for p, port in owner.items() if port != frozen}
        assert healthy and healthy != set(range(PARTITIONS))
        try:  # 9 s: three leases
            taken = await leases_taken_while_frozen(cluster, frozen, rival, client, healthy, 9)
            assert taken == set(), f"another replica took the leases of {sorted(taken)}"
            await asyncio.sleep(ttl_ms / 1000)  # a heartbeat renews the frozen node's again
            assert await rival.renew(client, set(range(PARTITIONS))) == set()
            assert replica.held == set(range(PARTITIONS))
        finally:
            stop.set()
            await beating
            await replica.leave()
            await client.aclose()


async def test_a_replica_renews_no_lease_a_lease_after_it_sent_its_last_heartbeat(
    settings: Settings,
    aredis: aioredis.Redis,
    conns: list[psycopg.Connection[Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The group counts a replica gone a lease after its last heartbeat reached Redis, so
    the replica renews nothing once a lease has passed since it sent that heartbeat, even
    when a renewal beside it took long (a slow or frozen node: up to half a lease). The
    heartbeat was dated when the renewals ended: leases renewed up to half a lease late."""
    a = _member(aredis, settings, "a", conns[0])
    loop = asyncio.get_running_loop()
    lease_s = TTL_MS / 1000
    real = a.leases.renew_by_node
    started: list[float] = []

    async def renew(client: Any, partitions: Any, **kwargs: Any) -> set[int]:
        started.append(loop.time())
        if len(started) == 1:
            await asyncio.sleep(0.4 * lease_s)  # a node slow to answer
        return await real(client, partitions, **kwargs)

    async def unreachable(*args: Any) -> Any:
        raise RedisError("the group's node does not answer")

    await a.beat()
    monkeypatch.setattr(a.leases, "renew_by_node", renew)
    sent = loop.time()
    await a.beat()  # the last heartbeat that reaches Redis; its renewal slow
    monkeypatch.setattr(a.state, "heartbeat", unreachable)
    while loop.time() - sent < 1.3 * lease_s:
        await asyncio.sleep(lease_s / 10)
        with contextlib.suppress(RedisError):
            await a.beat()
    assert len(started) > 1 and max(started) - sent < lease_s + 0.02
