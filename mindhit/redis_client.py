"""The one place a Redis client is made: every component connects through :func:`connect_redis`.

Keeping client construction in one function means a change of how MindHit talks to
Redis (timeouts, retries, a Redis Cluster client) is made once for every service.

**Redis Cluster** is chosen by the URL alone: ``redis+cluster://host:port`` (or
``rediss+cluster://`` for TLS, e.g. an ElastiCache configuration endpoint) makes a
:class:`redis.asyncio.cluster.RedisCluster` that discovers the other nodes from that
one; ``redis://`` / ``rediss://`` / ``unix://`` make a plain client. Because the URL is
the whole configuration, ``MINDHIT_REDIS_URL``, the Helm values and every subprocess
that is handed the URL need nothing else.

The cluster client is returned typed as :class:`redis.asyncio.Redis`: it offers the
same commands, and callers stay one code path. What only works on one node is kept out
of the code instead of branched on: every key a Lua script or a ``MULTI`` touches shares
one hash tag (``{pN}`` for a partition's keys), multi-key
commands over several slots (``DEL``, ``EXISTS``, ``UNLINK``) are split per slot by the
cluster client, ``MGET`` is split per slot (:func:`get_many`), ``SCAN`` is run on
every primary (``scan_iter``), and ``XREAD`` over several partitions' streams is issued
per slot (:func:`mindhit.streams.read`, which asks :func:`is_cluster`).

**Resharding** (slots moving between masters, ``redis-cli --cluster reshard`` or
``rebalance``): a command that meets ``MOVED`` is sent to the new owner and the slot map
is patched; one that meets ``ASK`` follows it once. A command over several keys of a
slot that is moving (a Lua script over a partition's lease and stream, an ``XREAD`` of
two streams) is refused with ``TRYAGAIN`` until every key it names has moved, which
can last as long as the slot's migration (a key that does not exist yet never moves).
redis-py gives up after 16 tries (~0.4 s) with ``ClusterError('TTL exhausted.')``;
:class:`ReshardingCluster` tries such a command again for up to ``slot_move_wait_s``
(30 s). That is safe for every command, appends included: no node ran it.

**Failover of the URL's node.** A cluster client finds the cluster through the node its
URL names, then keeps every node it learned as a starting point of its own. A *new*
client built from the same URL later in the process (the projector's restart after a
lost connection, the transport's catalog look-ups at every rebalance) would know only
the URL's node, which may be the one that died. Every client :func:`connect_redis`
makes therefore also starts from the nodes the process's earlier clients of that URL
discovered (:class:`NodeBook`), and a cluster none of whose known nodes answers is a
``ConnectionError`` (like a plain Redis that is down: callers back off and retry), not
redis-py's ``RedisClusterException``, which ended the projector.

**Seed nodes.** A cluster URL may name several nodes, comma-separated
(``redis+cluster://10.0.0.5:6379,10.0.0.6:6379,10.0.0.7:6379/0``; credentials and the
path are shared): a client starts from all of them (:func:`cluster_seeds`), so a process
*started* while one of them is down still finds the cluster through another. A URL of one
node whose node is down finds nothing until it is back; start-ups wait for that
(:func:`mindhit.redis_retry.until_reachable`) instead of exiting.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode as SyncClusterNode
from redis.cluster import RedisCluster as SyncRedisCluster
from redis.exceptions import ClusterDownError, MaxConnectionsError
from redis.retry import Retry

from mindhit.redis_cluster import (
    NODE_BOOK,
    AnyNodeCommandsParser,
    NodeBook,
    ReshardingCluster,
    WaitingCluster,
    cluster_seeds,
    redirected_only,
)
from mindhit.redis_packing import HiredisConnection, HiredisSSLConnection, packing_in_c

__all__ = [
    "CLUSTER_SCHEMES",
    "NODE_BOOK",
    "UNREACHABLE",
    "AnyNodeCommandsParser",
    "HiredisConnection",
    "HiredisSSLConnection",
    "NodeBook",
    "ReshardingCluster",
    "WaitingCluster",
    "WaitingPool",
    "cluster_seeds",
    "connect_redis",
    "connect_redis_sync",
    "get_many",
    "is_cluster",
    "packing_in_c",
    "plain_url",
    "redirected_only",
]

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}
"""URL schemes that select Redis Cluster, and the plain scheme each stands for."""

UNREACHABLE: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    ClusterDownError,
)
"""Errors that mean Redis (or a cluster node, during a failover) could not be reached:
a command that failed so may be sent again once it answers."""


def plain_url(url: str) -> tuple[str, bool]:
    """``url`` with a cluster scheme replaced by the plain one, and whether it was a cluster's.

    >>> plain_url("redis+cluster://10.0.0.1:6379/0")
    ('redis://10.0.0.1:6379/0', True)
    >>> plain_url("redis://127.0.0.1:6379/0")
    ('redis://127.0.0.1:6379/0', False)
    """
    scheme, sep, rest = url.partition("://")
    plain = CLUSTER_SCHEMES.get(scheme.lower())
    if sep and plain is not None:
        return f"{plain}://{rest}", True
    return url, False


def connect_redis(url: str, *, pool_timeout: float | None = None, **options: Any) -> aioredis.Redis:
    """An asyncio Redis client for ``url`` (``options`` as for ``redis.asyncio.Redis``).

    A ``redis+cluster://`` / ``rediss+cluster://`` URL gives a Redis Cluster client
    (``options`` as for ``redis.asyncio.cluster.RedisCluster``; ``max_connections`` is
    then per node). No connection is opened until the first command. Replies are
    ``bytes`` unless ``decode_responses=True`` is given.

    ``pool_timeout``: when all ``max_connections`` are in use, a command waits up to this
    many seconds for one to come free (then ``ConnectionError``) instead of failing at
    once with ``MaxConnectionsError`` (a server with many concurrent requests, e.g. the
    gateway). redis-py's cluster client has no waiting pool: on Redis Cluster a command
    that finds its node's connections all in use is tried again (:class:`WaitingCluster`)
    until one is free or the time is up.
    """
    target, cluster = plain_url(url)
    if cluster:
        # A MOVED reply patches the slot cache; without this, every 5th one makes the
        # client close *all* its connections, in-flight commands' included, which a
        # fresh client's first concurrent burst hits (redis-py 8.1: AttributeError
        # 'writelines' in a command that was never wrong). A resharding still moves
        # each slot on its first MOVED; a failover (CLUSTERDOWN) still reinitializes.
        options.setdefault("reinitialize_steps", 0)
        first, seeds = cluster_seeds(target)
        known = list(dict.fromkeys([*NODE_BOOK.nodes(target), *seeds[1:]]))
        if known and "startup_nodes" not in options:
            options["startup_nodes"] = [ClusterNode(host, port) for host, port in known]
        kind = ReshardingCluster if pool_timeout is None else WaitingCluster
        client = cast(ReshardingCluster, kind.from_url(first, **options))
        client.node_book_url = target
        if isinstance(client, WaitingCluster) and pool_timeout is not None:
            client.wait_s = pool_timeout
        return cast(aioredis.Redis, client)
    if pool_timeout is not None:
        plain = aioredis.Redis.from_pool(
            WaitingPool.from_url(target, wait_s=pool_timeout, **options)
        )
    else:
        plain = aioredis.Redis.from_url(target, **options)
    # No connection is open yet: redis:// and rediss:// ones (the class from_url chose
    # from the scheme) pack commands in C from the first.
    pool = plain.connection_pool
    pool.connection_class = packing_in_c(pool.connection_class)
    return plain


class WaitingPool(aioredis.ConnectionPool):
    """A connection pool that, when full, queues commands for up to ``wait_s``.

    redis-py's ``BlockingConnectionPool`` does this too, but takes a condition and a
    timeout on every command (measured: ~40% more client CPU per command). Here a
    command takes the plain pool's path while nobody waits; once the pool is full,
    commands queue in arrival order and ``release`` hands each freed connection
    straight to the oldest waiting one (still in use, so the pool's counts stay
    right), so nobody is overtaken by later commands and starved into the timeout. A
    command that waits longer than ``wait_s`` fails with ``ConnectionError``.
    """

    def __init__(self, *, wait_s: float, **options: Any) -> None:
        super().__init__(**options)
        self._wait_s = wait_s
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._handbacks: set[asyncio.Task[None]] = set()

    async def get_connection(self, *args: Any, **options: Any) -> Any:
        """A connection: at once when one is free and nobody waits, else in turn."""
        if not self._waiters:
            try:
                return await super().get_connection()
            except MaxConnectionsError:
                pass
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            done, _ = await asyncio.wait({waiter}, timeout=self._wait_s)
        except BaseException:  # cancelled while waiting: give back what it was handed
            self._abandon(waiter)
            raise
        if not done:
            self._abandon(waiter)
            raise redis.ConnectionError("No connection available.")
        connection = waiter.result()
        try:
            await self.ensure_connection(connection)
        except BaseException:
            await self.release(connection)
            raise
        return connection

    def _abandon(self, waiter: asyncio.Future[Any]) -> None:
        if waiter.done():
            if not waiter.cancelled():  # handed a connection it will not use
                task = asyncio.get_running_loop().create_task(self.release(waiter.result()))
                self._handbacks.add(task)
                task.add_done_callback(self._handbacks.discard)
            return
        waiter.cancel()
        self._waiters.remove(waiter)

    async def release(self, connection: Any) -> None:
        """Hand ``connection`` to the oldest waiting command, else back to the pool."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        await super().release(connection)


SYNC_CLUSTER_RETRIES = 1
"""How many times :func:`connect_redis_sync`'s cluster client tries a failed command again."""


def connect_redis_sync(url: str, **options: Any) -> redis.Redis:
    """A blocking client for ``url``, made like :func:`connect_redis` (tests and tools;
    MindHit's services and commands use :func:`connect_redis`).

    A command to a node that stops answering fails with ``redis.TimeoutError`` at the
    socket timeout (redis-py's default 5 s). On a Redis Cluster it is tried once more
    (``retry``: a failover's new master), not the 10 times of redis-py 8.1's cluster
    client, which took 55 s to fail a ``GET`` to a frozen master and 70 s a pipeline.
    """
    target, cluster = plain_url(url)
    if cluster:
        first, seeds = cluster_seeds(target)
        if len(seeds) > 1 and "startup_nodes" not in options:
            options["startup_nodes"] = [SyncClusterNode(host, port) for host, port in seeds[1:]]
        options.setdefault("retry", Retry(NoBackoff(), SYNC_CLUSTER_RETRIES))
        return cast(redis.Redis, SyncRedisCluster.from_url(first, **options))
    return redis.Redis.from_url(target, **options)


def is_cluster(client: object) -> bool:
    """Whether ``client`` (asyncio or blocking) talks to a Redis Cluster.

    Told by the cluster client's node map, so a wrapper that hands attributes through
    (a test's racing client) answers like the client it wraps.
    """
    return isinstance(client, RedisCluster | SyncRedisCluster) or (
        getattr(client, "nodes_manager", None) is not None
    )


async def get_many(client: aioredis.Redis, keys: Sequence[str]) -> list[Any]:
    """The values of ``keys``, in order (``None`` where missing).

    One ``MGET`` on one Redis; on Redis Cluster, whose ``MGET`` takes keys of one slot
    only, one per slot (``mget_nonatomic``: the values need not be read at one moment).
    """
    if not keys:
        return []
    if is_cluster(client):
        return list(await cast(RedisCluster, client).mget_nonatomic(list(keys)))
    return list(await client.mget(list(keys)))
