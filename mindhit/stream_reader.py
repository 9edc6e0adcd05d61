"""A fetch loop's reader of topic streams, with which a Redis Cluster node that stops
answering holds up only the streams it serves.

:func:`mindhit.streams.read` reads streams of several nodes as one call: when one node
is frozen (a paused VM, a peer cut off without a reset) the call fails only at the
cluster client's bound (:data:`mindhit.redis_cluster.CALL_TIMEOUT_S`, 12 s), and the
healthy nodes' partitions were fetched once per bound meanwhile. A :class:`StreamReader`
sends each node's reads as a call of its own and keeps a call that has not answered *in
flight* across fetches: the next fetches read the other nodes and leave that node alone
until its call ends (answered, or failed at the bound, then read again). What a call in
flight brings back is kept only for the streams still wanted from the offset it asked
for, so a seek, a rebalance or a position already moved on drops it.

One reader per fetch loop (its in-flight calls belong to it); :meth:`StreamReader.close`
cancels them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import ClusterDownError

from mindhit.logs import get_logger
from mindhit.redis_client import UNREACHABLE, is_cluster
from mindhit.redis_cluster import CALL_TIMEOUT_S, within
from mindhit.streams import CLUSTER_POLL_MS, StreamRecord, by_slot, read, records_of, xread_args

__all__ = ["NODE_GRACE_S", "StreamReader"]

log = get_logger(__name__)

NODE_GRACE_S = 0.2
"""Once one node's read has answered, how long a fetch waits for the other nodes' reads
it sent before leaving them in flight (healthy nodes answer within milliseconds of one
another; a late answer is only taken by the next fetch)."""


class _Flight:
    """One node's read: the offsets it asked for and the call."""

    __slots__ = ("asked", "task")

    def __init__(self, asked: dict[str, int], task: asyncio.Task[list[StreamRecord]]) -> None:
        self.asked = asked
        self.task = task


class StreamReader:
    """Reads entries at or after each stream's next offset, as :func:`mindhit.streams.read`
    does, for one fetch loop; on Redis Cluster one node's reads do not wait for another's."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self._flights: dict[str, _Flight] = {}

    @property
    def in_flight(self) -> set[str]:
        """The nodes (``host:port``) whose reads have not answered yet."""
        return set(self._flights)

    async def read(
        self, positions: Mapping[str, int], *, count: int = 100, block_ms: int | None = None
    ) -> list[StreamRecord]:
        """Entries of the streams in ``positions`` (stream → next offset), up to ``count``
        per stream; blocks up to ``block_ms`` where the read is one ``XREAD``.

        Raises:
            redis.TimeoutError, redis.ConnectionError: no read answered: one Redis (or
                every node read) unreachable. A failed node among answering ones is
                logged and read again by a later fetch.
        """
        if not is_cluster(self.client) or not positions:
            return await read(self.client, positions, count=count, block_ms=block_ms)
        cluster = cast(RedisCluster, self.client)
        limit_s = getattr(cluster, "call_timeout_s", CALL_TIMEOUT_S)
        await within(limit_s, cluster.initialize(), "the slot map")  # a no-op once known
        records: list[StreamRecord] = []
        failures: list[tuple[str, BaseException]] = []
        answered, covered = self._take_landed(positions, records, failures)
        # A stream asked for by a read in flight, or answered just now, is not asked for
        # again: its slot may have moved to another node meanwhile, and both would answer.
        covered |= {stream for flight in self._flights.values() for stream in flight.asked}
        groups = _by_node(cluster, {s: o for s, o in positions.items() if s not in covered})
        if len(groups) == 1 and not self._flights and not answered:
            return await read(self.client, positions, count=count, block_ms=block_ms)
        sent: list[asyncio.Task[list[StreamRecord]]] = []
        for name, (node, asked) in groups.items():
            if name in self._flights or name in answered:
                continue
            task = asyncio.ensure_future(
                within(limit_s, _read_node(cluster, node, asked, count), f"XREAD on {name}")
            )
            task.add_done_callback(_retrieved)
            self._flights[name] = _Flight(asked, task)
            sent.append(task)
        if sent:
            _, pending = await asyncio.wait(sent, return_when=asyncio.FIRST_COMPLETED)
            if pending:
                await asyncio.wait(pending, timeout=NODE_GRACE_S)
            answered |= self._take_landed(positions, records, failures)[0]
        if failures and not answered - {name for name, _ in failures}:
            raise failures[0][1]
        for name, exc in failures:
            log.warning("node read failed; reading the other nodes", node=name, error=repr(exc))
        if not records and block_ms:
            await asyncio.sleep(min(block_ms, CLUSTER_POLL_MS) / 1000)
        return records

    def _take_landed(
        self,
        positions: Mapping[str, int],
        records: list[StreamRecord],
        failures: list[tuple[str, BaseException]],
    ) -> tuple[set[str], set[str]]:
        """Collect the reads that have ended (into ``records`` or ``failures``); return
        their nodes and the streams they asked for. Entries are kept only where the
        stream is still wanted from the offset the read asked for."""
        landed = {name for name, flight in self._flights.items() if flight.task.done()}
        asked: set[str] = set()
        for name in landed:
            flight = self._flights.pop(name)
            asked.update(flight.asked)
            if flight.task.cancelled():
                continue
            exc = flight.task.exception()
            if exc is not None:
                if not isinstance(exc, UNREACHABLE):
                    raise exc
                failures.append((name, exc))
                continue
            records.extend(
                r for r in flight.task.result() if positions.get(r.stream) == flight.asked[r.stream]
            )
        return landed, asked

    def close(self) -> None:
        """Cancel the reads in flight (the fetch loop ends, or its client is closed)."""
        for flight in self._flights.values():
            flight.task.cancel()
        self._flights.clear()


def _by_node(
    cluster: RedisCluster, positions: Mapping[str, int]
) -> dict[str, tuple[ClusterNode, dict[str, int]]]:
    groups: dict[str, tuple[ClusterNode, dict[str, int]]] = {}
    for stream, offset in positions.items():
        node = cluster.get_node_from_key(stream)
        if node is None:  # a slot nobody serves (the map mid-change): read again later
            raise ClusterDownError(f"no node serves the slot of {stream}")
        groups.setdefault(node.name, (node, {}))[1][stream] = offset
    return groups


async def _read_node(
    cluster: RedisCluster, node: ClusterNode, asked: Mapping[str, int], count: int
) -> list[StreamRecord]:
    """One node's streams: one non-blocking ``XREAD`` per hash slot, pipelined."""
    pipe = cluster.pipeline(transaction=False)
    for group in by_slot({stream: f"0-{offset}" for stream, offset in asked.items()}):
        pipe.execute_command(*xread_args(group, count, None), target_nodes=node)
    replies: list[Any] = await pipe.execute()
    return [record for reply in replies for record in records_of(reply)]


def _retrieved(task: asyncio.Future[Any]) -> None:
    """Mark a read's error as seen: one cancelled by :meth:`StreamReader.close` or whose
    reader was dropped must not be reported as never retrieved."""
    if not task.cancelled():
        task.exception()
