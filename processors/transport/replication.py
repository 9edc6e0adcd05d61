"""Replicas hold a producer's appends before Faust commits past them (``wait_replicas`` > 0).

``WAIT`` counts only the writes of its own connection, and Faust commits on another
one, so :class:`Replication` keeps, per partition appended to since the last check,
the number of the last append batch, and checks them per node on one connection:

1. Each append batch ends with ``SET <prefix>:{pN}:written:<producer> <batch> GET`` for
   every partition it appended to, after that partition's appends on the same
   connection (one pipeline share per node): a node, or a replica promoted in its place,
   that holds the marker holds those appends. The previous value (``GET``) behind the
   partition's last unconfirmed batch means that batch vanished in a failover.
2. ``check`` (run by the producer's ``flush``, i.e. right before a commit) sends per node
   ``SET <prefix>:{pN}:replicated <ms> PX 60000`` (a write replicated after every earlier
   write on the node, by anyone, so its acknowledgement covers them), a ``GET`` of each of
   the node's markers, and ``WAIT n timeout``; on Redis Cluster with
   :func:`mindhit.slot_pipeline.run_on_slot_node`, so redirects move the whole group.
   Too few replicas, or a node unreachable: retried with backoff until the deadline.
   A marker behind its batch: the appends vanished; refused at once.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, cast

import redis.asyncio as aioredis
from faust.exceptions import ProducerSendError
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from mindhit.keys import replicated_key, written_key
from mindhit.logs import get_logger
from mindhit.redis_client import UNREACHABLE, is_cluster
from mindhit.slot_pipeline import run_on_slot_node
from processors.transport import metrics

__all__ = ["REPLICATED_TTL_MS", "STALL_LOG_EVERY_S", "WRITTEN_TTL_MS", "Replication", "Stall"]

WRITTEN_TTL_MS = 3_600_000
"""Lifetime of a ``written`` marker (refreshed by every batch appending to its partition)."""
REPLICATED_TTL_MS = 60_000
"""Lifetime of the ``replicated`` key written before each ``WAIT``."""

log = get_logger(__name__)


STALL_LOG_EVERY_S = 5.0
"""A commit held back (appends retried, replicas waited for) is logged this often."""


class Stall:
    """How long a commit has been held back: ``mindhit_transport_commit_stalled_seconds``
    while it lasts, and ``commit_stalled`` logged every :data:`STALL_LOG_EVERY_S`.

    Args:
        began: when the wait began (monotonic seconds).
        timeout_s: when it is given up (``producer_request_timeout``).
        waiting_for: what it waits for (``replicas``, ``redis``).
    """

    def __init__(self, began: float, timeout_s: float, waiting_for: str) -> None:
        self.began = began
        self.deadline = began + timeout_s
        self.waiting_for = waiting_for
        self._logged = began

    def note(self, now: float, why: str) -> None:
        """Still waiting at ``now`` (because of ``why``): set the gauge, log now and then."""
        metrics.COMMIT_STALLED.set(now - self.began)
        if now - self._logged >= STALL_LOG_EVERY_S:
            self._logged = now
            log.warning(
                "commit_stalled",
                waiting_for=self.waiting_for,
                waited_s=round(now - self.began, 1),
                gives_up_in_s=round(max(0.0, self.deadline - now), 1),
                why=why,
            )

    @staticmethod
    def end() -> None:
        """The wait is over (done or given up)."""
        metrics.COMMIT_STALLED.set(0)


class Replication:
    """A producer's appends not yet confirmed replicated, and the check that confirms them."""

    def __init__(
        self,
        client: Callable[[], aioredis.Redis],
        prefix: str,
        wait_replicas: int,
        wait_timeout_ms: int,
    ) -> None:
        """``client``: the producer's client (called at each use: created on first use)."""
        self._client = client
        self.prefix = prefix
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        #: Identifies this producer's ``written`` markers.
        self.producer_id = uuid.uuid4().hex[:16]
        self._batches = itertools.count(1)
        #: Partition -> number of the last batch that appended to it, not yet confirmed.
        self.unconfirmed: dict[int, int] = {}
        #: Partitions whose unconfirmed appends vanished (a batch found their marker behind).
        self._lost: set[int] = set()
        #: Number of the last batch whose replies were taken in.
        self._settled = 0

    @property
    def enabled(self) -> bool:
        """Whether appends are waited for at all (``wait_replicas`` > 0)."""
        return self.wait_replicas > 0

    def written_key(self, partition: int) -> str:
        """This producer's ``written`` marker of ``partition``."""
        return written_key(self.prefix, partition, self.producer_id)

    def next_batch(self) -> int:
        """The number of a new append batch (0: not waiting, no markers)."""
        return next(self._batches) if self.enabled else 0

    def queue_markers(
        self, pipe: Pipeline, number: int, unset: set[int], partitions: Iterable[int]
    ) -> list[int]:
        """Queue, after the appends, the marker of batch ``number`` for each of
        ``partitions`` and of ``unset`` (a marker not set yet); the partitions, in order."""
        if not number:
            return []
        unset.update(partitions)
        marking = sorted(unset)
        for partition in marking:
            pipe.set(self.written_key(partition), number, px=WRITTEN_TTL_MS, get=True)
        return marking

    def settle_markers(self, unset: set[int], marking: list[int], replies: list[Any]) -> None:
        """Take in the replies of the markers queued by :meth:`queue_markers` (``SET … GET``).

        A marker set is no longer ``unset``. A previous value behind the last unconfirmed
        batch of its partition means that batch's appends vanished (the node is a replica
        promoted before it got them): the next check refuses.
        """
        for partition, previous in zip(marking, replies, strict=True):
            if isinstance(previous, UNREACHABLE):
                continue
            unset.discard(partition)
            earlier = self.unconfirmed.get(partition)
            if earlier is None or isinstance(previous, BaseException):
                continue  # an error leaves the marker behind: the check refuses
            if previous is None or int(previous) < earlier:
                self._lost.add(partition)

    def note_written(self, number: int, partitions: Iterable[int]) -> None:
        """Batch ``number`` is done and appended to ``partitions``: to check before a commit."""
        if not number:
            return
        self.unconfirmed.update((partition, number) for partition in partitions)
        self._settled = number

    async def check(self, timeout_s: float, stopping: Callable[[], bool]) -> None:
        """Confirm that the replicas hold every append since the last confirmation.

        Retries (backing off from 100 ms to 2 s) while a node is unreachable or too few
        replicas acknowledge, for up to ``timeout_s`` or until ``stopping()``.

        Raises:
            ProducerSendError: the time is up, the producer stopped, or appends vanished
                (a failover to a replica that lacked them).
        """
        stall = Stall(time.monotonic(), timeout_s, "replicas")
        try:
            attempt = 0
            while self.unconfirmed:
                snapshot = dict(self.unconfirmed)
                try:
                    short = await self._check_once(snapshot, stall.deadline, stopping)
                except RedisError as exc:  # unreachable, failing over, read-only, ...
                    short = [repr(exc)]
                if not short:
                    for partition, batch in snapshot.items():
                        if self.unconfirmed.get(partition) == batch:
                            del self.unconfirmed[partition]
                    if attempt:
                        log.info("replication confirmed", attempts=attempt + 1)
                    return
                metrics.REPLICATION_TIMEOUTS.inc()
                if attempt == 0:
                    log.warning("appends not yet replicated; waiting", why=short[0])
                stall.note(time.monotonic(), short[0])
                if time.monotonic() >= stall.deadline or stopping():
                    raise ProducerSendError(
                        f"appends not held by {self.wait_replicas} replica(s) within "
                        f"MINDHIT_PRODUCER_TIMEOUT_S; not committing past them: {short[0]}"
                    )
                attempt += 1
                await asyncio.sleep(min(0.05 * 2**attempt, 2.0))
        finally:
            stall.end()

    async def _check_once(
        self, snapshot: dict[int, int], deadline: float, stopping: Callable[[], bool]
    ) -> list[str]:
        """One check of the partitions in ``snapshot`` (step 2); why it fell short, if so."""
        client = self._client()
        now_ms = int(time.time() * 1000)
        groups = await self._by_node(client, snapshot)

        async def check(partitions: list[int]) -> list[Any]:
            first = replicated_key(self.prefix, partitions[0])
            commands: list[tuple[Any, ...]] = [
                ("SET", first, now_ms, "PX", REPLICATED_TTL_MS),
                *(("GET", self.written_key(p)) for p in partitions),
                ("WAIT", self.wait_replicas, self.wait_timeout_ms),
            ]
            if is_cluster(client):
                return await run_on_slot_node(cast(RedisCluster, client), first, commands)
            pipe = client.pipeline(transaction=False)  # one connection: WAIT covers the SET
            for command in commands:
                pipe.execute_command(*command)
            return list(await pipe.execute(raise_on_error=False))

        replies = await asyncio.gather(*(check(partitions) for partitions in groups))
        short, behind, ahead = self._judge(snapshot, groups, replies)
        # A marker ahead of the snapshot was set by a batch still in flight: its replies
        # (which would tell whether it found an earlier batch lost) must be taken in first.
        while self._settled < ahead and not stopping():
            if time.monotonic() >= deadline:
                return [*short, f"batch {ahead} still in flight"]
            await asyncio.sleep(0.01)
        vanished = sorted(self._lost.union(behind))
        if vanished:
            metrics.REPLICATION_LOST.inc()
            raise ProducerSendError(
                f"appends to partitions {vanished} vanished before replicas held them "
                "(a failover?); not committing past them"
            )
        return short

    async def _by_node(self, client: aioredis.Redis, snapshot: dict[int, int]) -> list[list[int]]:
        """The partitions of ``snapshot`` grouped by the node serving them now."""
        if not is_cluster(client):
            return [sorted(snapshot)]
        cluster = cast(RedisCluster, client)
        await cluster.initialize()
        groups: dict[str, list[int]] = {}
        for partition in sorted(snapshot):
            node = cluster.get_node_from_key(self.written_key(partition))
            groups.setdefault(node.name if node else "", []).append(partition)
        return list(groups.values())

    def _judge(
        self, snapshot: dict[int, int], groups: list[list[int]], replies: list[list[Any]]
    ) -> tuple[list[str], list[int], int]:
        """What the groups' replies say: why they fall short (nothing: confirmed), the
        partitions whose marker is behind the snapshot (their last batch vanished), and
        the highest marker ahead of it (0: none)."""
        replicas = self.wait_replicas
        short: list[str] = []
        vanished: list[int] = []
        ahead = 0
        for partitions, reply in zip(groups, replies, strict=True):
            metrics.REPLICATION_WAITS.inc()
            markers, acked = reply[1:-1], reply[-1]
            for partition, marker in zip(partitions, markers, strict=True):
                if isinstance(marker, Exception):
                    short.append(f"partition {partition}: {marker!r}")
                elif marker is None or int(marker) < snapshot[partition]:
                    vanished.append(partition)
                elif int(marker) > snapshot[partition]:
                    ahead = max(ahead, int(marker))
            if isinstance(acked, Exception):
                short.append(repr(acked))
            elif int(acked) < replicas:
                short.append(f"{acked} of {replicas} replicas acknowledged: {partitions}")
        return short, vanished, ahead
