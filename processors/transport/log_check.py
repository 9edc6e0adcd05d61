"""Whether the log still backs a worker's committed offsets (the processors' log guard).

The projector stops when Redis lost the log under its checkpoints
(:mod:`mindhit.log_epoch`); a Faust worker does the same for its group's offsets. Every
commit stamps a partition's offsets with the partition's log epoch (field
``epoch.p<N>`` of the group's offsets hash, :mod:`processors.transport.lease`) and is
refused when the epoch is not the one the worker read the partition in. Besides:

- when a worker takes partitions, their stored offsets are checked against the log
  (:func:`assess`): a stamp of an epoch Redis no longer holds, or a stream whose
  highwater is below a committed offset, is a loss; so is an epoch that changed since
  this same worker read the partition, when the offsets hash lost its stamp with the
  log (a Redis restarted empty keeps neither);
- while it holds them, every heartbeat compares their epochs with the ones read
  (:func:`changed_epochs`) and their streams' highwaters with the offsets stored
  (:func:`streams_behind`: a failover to a replica that lacked the last entries keeps
  the epoch), so a loss is seen within a third of the lease even when no entry arrives
  to be committed.

A worker that sees a loss stands still (nothing fetched, nothing committed), says why
on ``/readyz`` and in its log, and leaves its last offsets stamped with the old epoch
so ``mindhit lag`` lists the loss and the next worker stands still too, until
``mindhit recover`` rebuilds the partition (it clears the group's offsets of it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.keys import TP, epoch_field, offsets_key
from mindhit.log_epoch import LogProblem, check_log, epoch_key
from mindhit.offsets import faust_positions
from schema.topics import stream_key

__all__ = [
    "Backing",
    "Verdict",
    "assess",
    "changed_epochs",
    "log_lost_reason",
    "read_backing",
    "read_epochs_of",
    "read_highwaters",
    "streams_behind",
]


class Backing(msgspec.Struct, frozen=True, kw_only=True):
    """What Redis holds of some partitions: the group's offsets fields, epochs, highwaters."""

    fields: dict[int, dict[bytes, bytes]]
    epochs: dict[int, str | None]
    highwaters: dict[TP, int]


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """:func:`assess`'s answer."""

    problems: list[LogProblem]
    """Stored offsets the log no longer backs."""
    forgotten: dict[int, str | None]
    """Partitions whose epoch changed since this worker read them while their offsets
    lost their stamp (Redis lost both): partition → the epoch Redis holds now."""
    expected: dict[int, str | None]
    """The epoch each partition's commits must find (its stamp, else the one this worker
    read before, else the current one; None: the partition has none yet)."""
    committed: dict[TP, int]
    """The committed offsets read."""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def assess(group: str, backing: Backing, previous: Mapping[int, str | None]) -> Verdict:
    """Check the offsets of ``group`` in ``backing`` against the log (pure).

    ``previous``: the epochs this worker read the partitions in before (an earlier
    generation), if any.
    """
    positions = []
    expected: dict[int, str | None] = {}
    forgotten: dict[int, str | None] = {}
    for partition, fields in backing.fields.items():
        positions += faust_positions(group, fields)
        stamp = fields.get(epoch_field(partition).encode())
        current = backing.epochs.get(partition)
        before = previous.get(partition)
        if stamp is None and before is not None and current != before:
            forgotten[partition] = current
        expected[partition] = _text(stamp) if stamp is not None else before or current
    return Verdict(
        problems=check_log(positions, backing.highwaters, backing.epochs),
        forgotten=forgotten,
        expected=expected,
        committed={(p.topic, p.partition): p.offset for p in positions},
    )


def changed_epochs(
    expected: Mapping[int, str | None], current: Mapping[int, str | None]
) -> dict[int, str | None]:
    """The partitions whose epoch is no longer the one read (pure): partition → now."""
    return {p: current.get(p) for p, e in expected.items() if e is not None and current.get(p) != e}


def streams_behind(committed: Mapping[TP, int], highwaters: Mapping[TP, int]) -> dict[TP, str]:
    """The streams whose highwater is below the offset stored for them, and why (pure).

    A committed offset is the next one to read, so it never passes the highwater of a
    log that still holds what was read.
    """
    return {
        tp: (
            f"stream {tp[0]}:{tp[1]} highwater {highwaters.get(tp, 0)} is below the committed"
            f" offset {offset}: Redis lost entries; run `mindhit recover`"
        )
        for tp, offset in committed.items()
        if highwaters.get(tp, 0) < offset
    }


async def read_highwaters(client: aioredis.Redis, prefix: str, tps: Iterable[TP]) -> dict[TP, int]:
    """The highwater of each of ``tps``' streams (one pipelined round trip; 0: no stream;
    a Redis that did not answer raises: :func:`mindhit.streams.highwaters`)."""
    wanted = sorted(tps)
    found = await streams.highwaters(client, [stream_key(prefix, t, p) for t, p in wanted])
    return dict(zip(wanted, found, strict=True))


async def read_epochs_of(
    client: aioredis.Redis, prefix: str, partitions: Iterable[int]
) -> dict[int, str | None]:
    """The log epoch of each of ``partitions`` (one round trip)."""
    wanted = sorted(partitions)
    pipe = client.pipeline(transaction=False)
    for partition in wanted:
        pipe.get(epoch_key(prefix, partition))
    values = await pipe.execute()
    return {p: (None if v is None else _text(v)) for p, v in zip(wanted, values, strict=True)}


async def read_backing(
    client: aioredis.Redis, prefix: str, group: str, partitions: Iterable[int]
) -> Backing:
    """The group's offsets fields, the epochs and the highwaters of the committed streams."""
    wanted = sorted(partitions)
    pipe = client.pipeline(transaction=False)
    for partition in wanted:
        pipe.hgetall(offsets_key(prefix, group, partition))
        pipe.get(epoch_key(prefix, partition))
    stored = await pipe.execute()
    fields = {p: dict(f) for p, f in zip(wanted, stored[::2], strict=True)}
    epochs = {
        p: (None if v is None else _text(v)) for p, v in zip(wanted, stored[1::2], strict=True)
    }
    tps = {(p.topic, p.partition) for f in fields.values() for p in faust_positions(group, f)}
    highwaters = await read_highwaters(client, prefix, tps)
    return Backing(fields=fields, epochs=epochs, highwaters=highwaters)


def log_lost_reason(app: Any) -> str | None:
    """Why the worker of Faust ``app`` stands still (a lost log), else None (also before
    the worker has a consumer: never creates one)."""
    consumer = getattr(app, "_consumer", None)
    lost = getattr(getattr(consumer, "membership", None), "log_lost", None)
    return str(lost) if lost is not None else None
