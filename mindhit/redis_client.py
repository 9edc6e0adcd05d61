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
from collections.abc import Callable, Sequence
from typing import Any, cast

import hiredis
import redis
import redis.asyncio as aioredis
from redis._parsers.commands import AsyncCommandsParser
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.cluster import ClusterNode as SyncClusterNode
from redis.cluster import RedisCluster as SyncRedisCluster
from redis.exceptions import (
    ClusterDownError,
    ClusterError,
    MaxConnectionsError,
    RedisClusterException,
    TryAgainError,
)

__all__ = [
    "CLUSTER_SCHEMES",
    "UNREACHABLE",
    "AnyNodeCommandsParser",
    "HiredisConnection",
    "NodeBook",
    "ReshardingCluster",
    "WaitingCluster",
    "WaitingPool",
    "cluster_seeds",
    "connect_redis",
    "connect_redis_sync",
    "get_many",
    "is_cluster",
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


def cluster_seeds(url: str) -> tuple[str, list[tuple[str, int]]]:
    """Split a URL naming several nodes (``host:port,host:port``) into a URL of the first
    and every node named, in order (default port 6379; ``[v6]:port`` brackets kept off).

    >>> cluster_seeds("redis://:pw@10.0.0.1:7000,10.0.0.2:7001/0")
    ('redis://:pw@10.0.0.1:7000/0', [('10.0.0.1', 7000), ('10.0.0.2', 7001)])
    >>> cluster_seeds("redis://10.0.0.1/0")
    ('redis://10.0.0.1/0', [('10.0.0.1', 6379)])

    Raises:
        ValueError: a node without a host, or a port that is not a number.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url, []
    netloc, slash, tail = rest.partition("/")
    auth, at, hosts = netloc.rpartition("@")
    nodes: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, port = _host_port(item.strip())
        nodes.append((host, port))
    first = hosts.split(",")[0].strip()
    return f"{scheme}://{auth}{at}{first}{slash}{tail}", nodes


def _host_port(item: str) -> tuple[str, int]:
    if item.startswith("["):
        host, _, after = item[1:].partition("]")
        port = after.removeprefix(":") or "6379"
    elif item.count(":") == 1:
        host, _, port = item.partition(":")
    else:
        host, port = item, "6379"
    if not host or not port.isdigit():
        raise ValueError(f"not a host:port in a Redis URL: {item!r}")
    return host, int(port)


class NodeBook:
    """The cluster nodes this process's clients discovered, per URL: where a new client
    of that URL also starts (the URL's own node may be down, replaced by its replica).

    Addresses only, no connections; one book per process (:data:`NODE_BOOK`).
    """

    def __init__(self) -> None:
        self._nodes: dict[str, list[tuple[str, int]]] = {}

    def record(self, url: str, nodes: Sequence[tuple[str, int]]) -> None:
        """Remember ``nodes`` (host, port) as ``url``'s cluster, as last discovered."""
        if nodes:
            self._nodes[url] = list(dict.fromkeys(nodes))

    def nodes(self, url: str) -> list[tuple[str, int]]:
        """The nodes last discovered through ``url`` (empty: none yet)."""
        return list(self._nodes.get(url, ()))


NODE_BOOK = NodeBook()
"""This process's :class:`NodeBook` (the cluster clients of :func:`connect_redis` share it)."""


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


def packing_in_c(connection_class: type[Any]) -> type[Any]:
    """The hiredis-packing twin of redis-py's TCP or TLS connection class; any other
    class (``unix://``, a caller's own) as it is."""
    return _PACKING_IN_C.get(connection_class, connection_class)


def _pack_in_c(args: tuple[Any, ...], pack_in_python: Callable[..., list[bytes]]) -> list[bytes]:
    """One command packed by hiredis, or by ``pack_in_python`` for arguments it refuses."""
    first = args[0]
    if isinstance(first, str):  # e.g. "CONFIG GET": one argument a word, as redis-py
        packed = (*first.encode().split(), *args[1:])
    elif b" " in first:
        packed = (*first.split(), *args[1:])
    else:
        packed = args
    try:
        return [hiredis.pack_command(packed)]
    except TypeError:
        return pack_in_python(*args)


class HiredisConnection(aioredis.Connection):
    """A TCP connection that packs commands with hiredis's C packer.

    redis-py's sync client packs with hiredis when it is installed; its asyncio client
    packs in Python, ~0.8 µs an argument (more for long commands: each argument is
    appended to a growing buffer). The processors' commands carry many arguments (a
    dwell batch: ~700 keys to look up, ~300 to save), so packing was ~5 % of the
    handler's CPU. The bytes sent are the same; arguments hiredis does not take (``bool``,
    ``None``, ``bytearray``) go to redis-py's packer, which refuses or packs them as before.
    """

    def pack_command(self, *args: Any) -> list[bytes]:
        """Pack one command into the Redis protocol (see the class docstring)."""
        return _pack_in_c(args, super().pack_command)


class HiredisSSLConnection(aioredis.SSLConnection):
    """A TLS connection (``rediss://``, e.g. ElastiCache with in-transit encryption, as
    production runs) that packs commands with hiredis, as :class:`HiredisConnection`."""

    def pack_command(self, *args: Any) -> list[bytes]:
        """Pack one command into the Redis protocol (see :class:`HiredisConnection`)."""
        return _pack_in_c(args, super().pack_command)


_PACKING_IN_C: dict[type[Any], type[Any]] = {
    aioredis.Connection: HiredisConnection,
    aioredis.SSLConnection: HiredisSSLConnection,
}


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


def redirected_only(error: BaseException) -> bool:
    """Whether the cluster client gave up on a command that no node ran.

    ``TRYAGAIN`` (some of its keys have moved, some not yet), or redis-py's
    ``TTL exhausted`` once all its tries met ``MOVED``, ``ASK`` or ``TRYAGAIN``.
    """
    return isinstance(error, TryAgainError) or (
        type(error) is ClusterError and "TTL exhausted" in str(error)
    )


class AnyNodeCommandsParser(AsyncCommandsParser):
    """redis-py's table of commands (``COMMAND``), read from any node that answers.

    redis-py reads it from the first primary a client discovers when the client is
    made: while that primary is dead and not yet replaced (``CLUSTER SLOTS`` still names
    it), every new client failed to start, even for keys on healthy masters (seen when
    a process started during the failover of the URL's node). Here the other known
    nodes are asked in turn.
    """

    def __init__(self, nodes: Any) -> None:
        super().__init__()
        self._nodes = nodes

    async def initialize(self, node: ClusterNode | None = None) -> None:
        """Read the command table from ``node``, else from each other known node."""
        first = node or getattr(self, "node", None)
        candidates = [first, *self._nodes.nodes_cache.values()] if first else []
        tried: set[str] = set()
        error: Exception | None = None
        for candidate in candidates:
            if candidate is None or candidate.name in tried:
                continue
            tried.add(candidate.name)
            try:
                await super().initialize(candidate)
                return
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                error = exc
        if error is not None:
            raise error
        await super().initialize(node)


class ReshardingCluster(RedisCluster):
    """A Redis Cluster client that waits out the slots it needs moving between masters.

    A command refused because a slot it touches is being moved (:func:`redirected_only`)
    is tried again after a short pause (10 ms, doubling up to 200 ms) until it runs or
    ``slot_move_wait_s`` has passed (then the last error). Nothing else is retried here.
    A pipeline's commands are each retried like this when redis-py sends the redirected
    ones again one by one.

    On ``CLUSTERDOWN`` (a failover) redis-py 8.1 closes *all* the client's connections,
    in-flight commands' included; such a command then fails with ``AttributeError:
    'NoneType' object has no attribute 'writelines'`` before it was sent. That is raised
    as the ``ConnectionError`` it is, so callers back off and retry (503 at the gateway)
    instead of treating it as a bug.
    """

    slot_move_wait_s = 30.0
    node_book_url: str | None = None
    """Where :data:`NODE_BOOK` keeps the nodes this client discovers (``None``: nowhere)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As redis-py's, but the connections to every node pack commands with hiredis
        (:func:`packing_in_c`: redis-py gives a cluster's nodes its Python-packing
        ``Connection`` or, for ``rediss+cluster://``, ``SSLConnection`` whatever it is told)."""
        super().__init__(*args, **kwargs)
        self.commands_parser = AnyNodeCommandsParser(self.nodes_manager)
        chosen = self.connection_kwargs.get("connection_class", aioredis.Connection)
        self.connection_kwargs["connection_class"] = packing_in_c(chosen)  # nodes found later
        for node in self.startup_nodes:
            node.connection_class = packing_in_c(node.connection_class)

    async def initialize(self, *args: Any, **kwargs: Any) -> ReshardingCluster:
        """Discover the cluster (as redis-py does) and note its nodes in :data:`NODE_BOOK`.

        No known node answering is raised as ``ConnectionError`` (retried by callers as a
        Redis that is down), not as redis-py's ``RedisClusterException``.
        """
        discovering = self._initialize
        try:
            await super().initialize(*args, **kwargs)
        except RedisClusterException as error:
            if type(error) is RedisClusterException and "cannot be connected" in str(error):
                raise redis.ConnectionError(str(error)) from error
            raise
        if discovering and self.node_book_url is not None:
            nodes = self.nodes_manager.nodes_cache.values()
            NODE_BOOK.record(self.node_book_url, [(node.host, int(node.port)) for node in nodes])
        return self

    async def aclose(self) -> None:
        """Close every connection to every node.

        redis-py 8.1 closes nothing when the client was marked to rediscover the cluster,
        which a lost connection does (a node died): the connections to the healthy nodes
        stayed open, each logged "Unclosed ClusterNode object" when collected (a worker
        retrying its start-up with a new client per attempt left one set per attempt).
        """
        if self._initialize:
            await self.nodes_manager.aclose()
            await self.nodes_manager.aclose("startup_nodes")
        await super().aclose()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command; while its slot is moving, wait and try again."""
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        pause = 0.01
        while True:
            try:
                return await super().execute_command(*args, **kwargs)
            except AttributeError as error:
                if "writelines" not in str(error):
                    raise
                raise redis.ConnectionError("connection closed by the cluster client") from error
            except (TryAgainError, ClusterError) as error:
                if not redirected_only(error):
                    raise
                now = loop.time()
                deadline = now + self.slot_move_wait_s if deadline is None else deadline
                if now + pause > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.2)


class WaitingCluster(ReshardingCluster):
    """A Redis Cluster client whose commands wait up to ``wait_s`` for a free connection.

    The cluster client raises ``MaxConnectionsError`` when a node's ``max_connections``
    are all in use, before anything is sent, so the command is simply tried again after
    a short pause (1 ms, doubling up to 20 ms) until ``wait_s`` has passed (then
    ``ConnectionError``, as :class:`WaitingPool`). Pipelines are not retried (a pipeline
    may have reached some nodes when another's connections were all taken).
    """

    wait_s = 1.0

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command; while its node has no free connection, wait and try again."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_s
        pause = 0.001
        while True:
            try:
                return await super().execute_command(*args, **kwargs)
            except MaxConnectionsError:
                if loop.time() + pause > deadline:
                    raise redis.ConnectionError("No connection available.") from None
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.02)


def connect_redis_sync(url: str, **options: Any) -> redis.Redis:
    """A blocking client for ``url``, made like :func:`connect_redis` (commands, tests, tools)."""
    target, cluster = plain_url(url)
    if cluster:
        first, seeds = cluster_seeds(target)
        if len(seeds) > 1 and "startup_nodes" not in options:
            options["startup_nodes"] = [SyncClusterNode(host, port) for host, port in seeds[1:]]
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
