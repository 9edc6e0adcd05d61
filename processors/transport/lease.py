"""Fenced offset commits of one consumer group member (Redis adapter).

The leases themselves (``<prefix>:{pN}:lease:<group>``, taken, renewed and released)
are :class:`mindhit.leases.Leases`, shared with the projector. Offset commits and
table-changelog appends check the lease in the same Lua call, so a member that lost
a partition (paused past its lease, partitioned away) can never commit or append for
it afterwards. The commit call also checks the partition's log epoch
(:mod:`mindhit.log_epoch`) and stamps the offsets with it (field ``epoch.p<N>``), so
offsets are never stored past a log Redis lost (:class:`LogLost`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

import redis.asyncio as aioredis

from mindhit.keys import epoch_field, groups_key, offsets_key, tp_field
from mindhit.leases import LeaseLost, Leases
from mindhit.log_epoch import epoch_key

__all__ = ["LeaseLost", "LogLost", "PartitionLeases", "lost_epochs", "script"]


class LogLost(RuntimeError):
    """Redis lost the log under the committed offsets of ``partitions`` (``reason`` says how).

    The worker stands still until ``mindhit recover`` rebuilds the log (see
    :mod:`mindhit.log_epoch`).
    """

    def __init__(self, partitions: Iterable[int], reason: str) -> None:
        self.partitions = set(partitions)
        self.reason = reason
        super().__init__(reason)


def lost_epochs(expected: Mapping[int, str | None], current: Mapping[int, str | None]) -> LogLost:
    """The :class:`LogLost` of partitions read in ``expected`` epochs that Redis now holds
    as ``current`` (pure)."""
    shown = "; ".join(
        f"partition {p}: read in log epoch {expected.get(p)}, Redis holds {current[p]}"
        for p in sorted(current)
    )
    return LogLost(current, f"log lost: {shown}; run `mindhit recover`")


def script(name: str) -> str:
    """The source of a Lua script kept beside this module."""
    return resources.files("processors.transport").joinpath(name).read_text()


class PartitionLeases(Leases):
    """The partition leases of one member of one consumer group, with fenced commits."""

    def __init__(self, prefix: str, group: str, member: str, ttl_ms: int) -> None:
        super().__init__(prefix, group, member, ttl_ms)
        self._commit_src = script("commit.lua")

    async def commit(
        self,
        client: aioredis.Redis,
        offsets: Mapping[tuple[str, int], int],
        epochs: Mapping[int, str | None] | None = None,
    ) -> dict[int, str | None]:
        """Store committed offsets, each partition's fenced by its lease and log epoch.

        ``epochs``: the epoch each partition was read in (None or absent: none known,
        not checked). Returns the epoch each stored partition's offsets were stamped with.

        Steps:
            1. One Lua call per partition (pipelined): check the partition's log epoch
               is the one expected, and the lease names this member (even if expired:
               nobody took it over); extend the lease, then HSET the partition's offsets
               and its current epoch into the group's offsets hash of that partition
               (same hash tag as the lease and the epoch: one slot on Redis Cluster).
            2. Record the group in the groups set (for ``mindhit lag``).

        Raises:
            LogLost: a partition's epoch changed or is gone (checked first; its offsets
                were not stored, those of other partitions were).
            LeaseLost: another member holds a partition's lease; its offsets were not
                stored (those of partitions still held were).
        """
        expected = epochs or {}
        by_partition: dict[int, list[Any]] = {}
        for (topic, partition), offset in offsets.items():
            by_partition.setdefault(partition, []).extend((tp_field(topic, partition), offset))
        order = sorted(by_partition)
        pipe = client.pipeline(transaction=False)
        for partition in order:
            pipe.eval(
                self._commit_src,
                3,
                self.key(partition),
                offsets_key(self.prefix, self.group, partition),
                epoch_key(self.prefix, partition),
                self.member,
                self.ttl_ms,
                expected.get(partition) or "",
                epoch_field(partition),
                *by_partition[partition],
            )
        pipe.sadd(groups_key(self.prefix), self.group)
        results = await pipe.execute()
        stamped: dict[int, str | None] = {}
        lost: dict[int, str | None] = {}
        fenced = []
        for partition, reply in zip(order, results, strict=False):
            code = int(reply[0])
            epoch = _text(reply[1]) if len(reply) > 1 else None
            if code == 1:
                stamped[partition] = epoch
            elif code < 0:
                lost[partition] = epoch
            else:
                fenced.append(partition)
        if lost:
            raise lost_epochs(expected, lost)
        if fenced:
            raise LeaseLost(
                f"partitions {fenced} of group {self.group!r} are leased to "
                f"{await self.holder(client, fenced[0])!r}, not {self.member!r}"
            )
        return stamped


def _text(value: Any) -> str | None:
    text = value.decode() if isinstance(value, bytes) else str(value)
    return text or None
