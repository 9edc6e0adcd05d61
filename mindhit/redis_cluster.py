"""The Redis Cluster client :func:`mindhit.redis_client.connect_redis` makes, and its seed nodes.

:class:`ReshardingCluster` (redis-py's asyncio cluster client) waits out slots moving
between masters, tells a failover's errors for what they are, packs with hiredis, starts
from every node the process discovered (:class:`NodeBook`) and from every seed the URL
names (:func:`cluster_seeds`), reads its command table from any node that answers and
closes every connection it opened, and gives up on any command or pipeline after
:data:`CALL_TIMEOUT_S` (:func:`within`); :class:`WaitingCluster` also waits for a free
connection. See :mod:`mindhit.redis_client` for when each is made.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis
from redis._parsers.commands import AsyncCommandsParser
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.exceptions import (
    ClusterError,
    MaxConnectionsError,
    RedisClusterException,
    TryAgainError,
)

from mindhit.redis_packing import packing_in_c

__all__ = [
    "CALL_TIMEOUT_S",
    "NODE_BOOK",
    "AnyNodeCommandsParser",
    "ClosedAwarePipeline",
    "NodeBook",
    "ReshardingCluster",
    "WaitingCluster",
    "call_timeout_for",
    "cluster_seeds",
    "redirected_only",
    "within",
]

T = TypeVar("T")

CALL_TIMEOUT_S = 12.0
"""Longest a cluster command or pipeline may take, redis-py's own retries included (when
the socket timeout is 5 s, redis-py's default and the gateway's; see
:func:`call_timeout_for`), before it fails with ``redis.TimeoutError``."""


def cluster_seeds(url: str) -> tuple[str, list[tuple[str, int]]]:
    """Split a URL naming several nodes (``host:port,host:port``) into a URL of the first
    and every node named, in order (default port 6379; ``[v6]:port`` brackets kept off).

    >>> cluster_seeds("redis://:pw@10.0.0.1:7000,10.0.0.2:7001/0")
    ('redis://:pw@10.0.0.1:7000/0', [('10.0.0.1', 7000), ('10.0.0.2', 7001)])
    >>> cluster_seeds("redis://10.0.0.1/0")
    ('redis://10.0.0.1/0', [('10.0.0.1', 6379)])
    >>> cluster_seeds("rediss://h1:7000,h2:7001?ssl_ca_certs=/ca.pem")
    ('rediss://h1:7000?ssl_ca_certs=/ca.pem', [('h1', 7000), ('h2', 7001)])

    Raises:
        ValueError: a node without a host, or a port that is not a number.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url, []
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:end], rest[end:]  # tail: the path, query and fragment, as given
    auth, at, hosts = netloc.rpartition("@")
    nodes: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, port = _host_port(item.strip())
        nodes.append((host, port))
    first = hosts.split(",")[0].strip()
    return f"{scheme}://{auth}{at}{first}{tail}", nodes


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


def call_timeout_for(socket_timeout: float | None) -> float:
    """How long a cluster call may take, for connections with this ``socket_timeout``.

    :data:`CALL_TIMEOUT_S`, but never less than two tries at the socket timeout plus 2 s:
    a reply the socket timeout allows (``WAIT``, ``XREAD BLOCK``) is never cut off, and
    a command that met a dead node still gets its retry on the node that replaced it.

    >>> call_timeout_for(None), call_timeout_for(5.0), call_timeout_for(1.0), call_timeout_for(10.0)
    (12.0, 12.0, 12.0, 22.0)
    """
    if socket_timeout is None:
        return CALL_TIMEOUT_S
    return max(CALL_TIMEOUT_S, 2 * socket_timeout + 2)


async def within(limit_s: float, call: Awaitable[T], what: str) -> T:
    """``await call``, but raise ``redis.TimeoutError`` once ``limit_s`` has passed.

    Why: a node that stopped answering without closing its connections (frozen, a
    paused VM, cut off without a reset) fails a command only at the socket timeout (5 s),
    and redis-py 8.1's cluster client then tries again, rediscovering the cluster and
    reconnecting to that node, up to 10 times: a ``GET`` took 55 s to fail, a pipeline
    78 s. ``redis.TimeoutError`` is what callers already retry as an unreachable Redis
    (:data:`mindhit.redis_client.UNREACHABLE`). The call is cancelled, and redis-py
    closes a connection whose command was cancelled while being sent or awaiting its
    reply, so a late reply is never read as another command's. What was already handed
    to the connection is still sent, though, and runs when the node reads it: a call
    that failed here may have run. And the bound fires only when the event loop gets
    control: a pipeline of 1,000,000 commands, packed on the loop, failed after 47 s.
    """
    try:
        async with asyncio.timeout(limit_s) as deadline:
            return await call
    except TimeoutError:
        if not deadline.expired():
            raise
        raise redis.TimeoutError(
            f"no reply to {what} within {limit_s:g} s (a cluster node stopped answering?)"
        ) from None


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

    Each command, and each pipeline (:class:`ClosedAwarePipeline`), fails with
    ``redis.TimeoutError`` after ``call_timeout_s`` (:func:`call_timeout_for` of the
    connections' socket timeout; 12 s by default), redis-py's retries included
    (:func:`within`).
    """

    slot_move_wait_s = 30.0
    call_timeout_s = CALL_TIMEOUT_S
    node_book_url: str | None = None
    """Where :data:`NODE_BOOK` keeps the nodes this client discovers (``None``: nowhere)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As redis-py's, but the connections to every node pack commands with hiredis
        (:func:`packing_in_c`: redis-py gives a cluster's nodes its Python-packing
        ``Connection`` or, for ``rediss+cluster://``, ``SSLConnection`` whatever it is told)."""
        super().__init__(*args, **kwargs)
        self.call_timeout_s = call_timeout_for(self.connection_kwargs.get("socket_timeout"))
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

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> ClusterPipeline:
        """A pipeline whose commands, sent on a connection this client closed, fail as
        ``ConnectionError`` like single commands (:class:`ClosedAwarePipeline`)."""
        super().pipeline(transaction, shard_hint)  # redis-py's checks of the arguments
        return ClosedAwarePipeline(self, transaction)  # type: ignore[abstract]  # as redis-py does

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command (within ``call_timeout_s``); while its slot is moving, wait
        and try again."""
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        pause = 0.01
        what = str(args[0]) if args else "a command"
        while True:
            try:
                running = super().execute_command(*args, **kwargs)
                return await within(self.call_timeout_s, running, what)
            except AttributeError as error:
                if not _closed_under(error):
                    raise
                raise redis.ConnectionError(CLOSED_UNDER) from error
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


CLOSED_UNDER = "connection closed by the cluster client"


def _closed_under(error: AttributeError) -> bool:
    """Whether a command met a connection the cluster client closed under it (redis-py
    8.1 on ``CLUSTERDOWN``: ``'NoneType' object has no attribute 'writelines'``, never
    sent): a ``ConnectionError``, not a bug."""
    return "writelines" in str(error)


class ClosedAwarePipeline(ClusterPipeline):
    """redis-py's cluster pipeline, failing as ``ConnectionError`` where a failover closed
    its connection under it (see :class:`ReshardingCluster`): the gateway answers such an
    upload 503, retried by the extension, not 500. And failing as ``redis.TimeoutError``
    after the client's ``call_timeout_s`` (:func:`within`), where redis-py 8.1 retried a
    pipeline sent to a node that stopped answering for 78 s."""

    async def execute(
        self, raise_on_error: bool = True, allow_redirections: bool = True
    ) -> list[Any]:
        """As redis-py's (see the class docstring)."""
        limit_s = getattr(self.cluster_client, "call_timeout_s", CALL_TIMEOUT_S)
        try:
            running = super().execute(raise_on_error, allow_redirections)
            return await within(limit_s, running, "a pipeline")
        except AttributeError as error:
            if not _closed_under(error):
                raise
            raise redis.ConnectionError(CLOSED_UNDER) from error
