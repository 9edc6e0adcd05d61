"""The log epoch: telling a Redis that lost its data from an idle one.

Every partition number has an *epoch*, a random id kept at ``<prefix>:{p<N>}:epoch``
(the partition's hash tag, so the gateway's append script checks it atomically with
the append). It is created once, when that partition's log is first written, and
every consumer stores the epoch it read beside its checkpoint (projector rows in
``projection_checkpoints.epoch``, Faust commits in the group's offsets hash).

A Redis restarted without persistence (or a replica promoted before it caught up)
brings the streams back at offset 0, or behind, while the checkpoints stay ahead:
reading from them returns nothing and lag shows 0. :func:`check_log` (pure) tells
that apart from an idle log: a checkpoint whose epoch differs from the partition's
epoch, a checkpoint stamped with an epoch while the partition has none, or a
stream whose highwater is below a checkpoint is a :class:`LogProblem`. Whoever
sees one stops (readiness fails with :func:`describe`) until ``mindhit recover``
lines the log and the checkpoints up again.

Creating an epoch is allowed only where no checkpoint of the partition carries one
(:func:`may_create`): otherwise a fresh epoch would hide that the log was lost.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import msgspec
import redis.asyncio as aioredis

from mindhit.keys import TP
from schema.topics import partition_tag

__all__ = [
    "RECOVERING",
    "LogProblem",
    "Position",
    "ProblemKind",
    "check_log",
    "check_position",
    "create_epochs",
    "describe",
    "epoch_key",
    "may_create",
    "new_epoch",
    "read_epochs",
    "recovery_epoch",
    "set_epoch",
    "still_latched",
]

RECOVERING = "recovering:"
"""Prefix of the epoch ``mindhit recover`` holds while it rebuilds a partition: no append
is accepted meanwhile (the append script refuses it)."""

ProblemKind = Literal["epoch_changed", "epoch_missing", "behind"]


class Position(msgspec.Struct, frozen=True, kw_only=True):
    """Where one consumer stands on one topic partition, and the epoch it read there."""

    consumer: str
    """A projection name, ``archiver``, or ``faust:<group>``."""
    topic: str
    partition: int
    offset: int
    """The next offset it will read."""
    epoch: str | None = None
    """The epoch stored with the checkpoint (None: written before epochs existed)."""


class LogProblem(msgspec.Struct, frozen=True, kw_only=True):
    """A checkpoint the log no longer backs: the log was lost or rolled back."""

    kind: ProblemKind
    consumer: str
    topic: str
    partition: int
    checkpoint: int
    highwater: int
    stored_epoch: str | None
    current_epoch: str | None
    reason: str


def check_position(position: Position, highwater: int, epoch: str | None) -> LogProblem | None:
    """Whether the log still backs ``position`` (pure).

    Rules, in order: a checkpoint at 0 has consumed nothing and cannot be ahead;
    a stamped checkpoint whose partition has no epoch → ``epoch_missing``; a stamp
    that differs from the partition's epoch → ``epoch_changed``; a stream whose
    highwater is below the checkpoint → ``behind``. An unstamped checkpoint (older
    than epochs) is fine while its stream reaches it: the next write stamps it.
    """
    if position.offset <= 0:
        return None
    where = f"{position.consumer} on {position.topic}:{position.partition}"
    kind: ProblemKind
    if position.epoch is not None and epoch is None:
        kind = "epoch_missing"
        reason = (
            f"{where}: log epoch missing (checkpoint {position.offset} was read in epoch"
            f" {position.epoch}): Redis lost its data"
        )
    elif position.epoch is not None and epoch != position.epoch:
        kind = "epoch_changed"
        reason = (
            f"{where}: log epoch changed from {position.epoch} to {epoch}"
            f" (checkpoint {position.offset}, highwater {highwater}): Redis lost its data"
        )
    elif highwater < position.offset:
        kind = "behind"
        reason = (
            f"{where}: stream highwater {highwater} is below checkpoint {position.offset}:"
            " Redis lost entries (restart without persistence or failover)"
        )
    else:
        return None
    return LogProblem(
        kind=kind,
        consumer=position.consumer,
        topic=position.topic,
        partition=position.partition,
        checkpoint=position.offset,
        highwater=highwater,
        stored_epoch=position.epoch,
        current_epoch=epoch,
        reason=reason,
    )


def check_log(
    positions: Iterable[Position],
    highwaters: Mapping[TP, int],
    epochs: Mapping[int, str | None],
) -> list[LogProblem]:
    """Every position the log no longer backs (pure; unknown streams count as empty)."""
    problems = []
    for position in positions:
        problem = check_position(
            position,
            highwaters.get((position.topic, position.partition), 0),
            epochs.get(position.partition),
        )
        if problem is not None:
            problems.append(problem)
    return problems


def describe(problems: Iterable[LogProblem], *, limit: int = 3) -> str:
    """One line for readiness and logs: the first few reasons (epochs first: the cause)."""
    found = sorted(problems, key=lambda p: p.kind == "behind")
    if not found:
        return "log ok"
    shown = "; ".join(p.reason for p in found[:limit])
    more = f" (and {len(found) - limit} more)" if len(found) > limit else ""
    return f"log lost: {shown}{more}; run `mindhit recover`"


def may_create(positions: Iterable[Position], partition: int) -> bool:
    """Whether a missing epoch of ``partition`` may be created (pure).

    Only when no checkpoint of the partition past offset 0 carries an epoch: a
    partition read under some epoch that now has none lost its log, and a fresh
    epoch would hide that.
    """
    return not any(
        p.partition == partition and p.offset > 0 and p.epoch is not None for p in positions
    )


def recovery_epoch(positions: Iterable[Position], partition: int) -> str | None:
    """The epoch ``mindhit recover`` restores for ``partition``: the one most checkpoints hold.

    Ties go to the checkpoint furthest ahead. None when no checkpoint is stamped.
    """
    stamped = [p for p in positions if p.partition == partition and p.epoch is not None]
    if not stamped:
        return None
    counts = Counter(p.epoch for p in stamped)
    furthest = {p.epoch: p.offset for p in sorted(stamped, key=lambda p: p.offset)}
    return max(counts, key=lambda e: (counts[e], furthest[e]))


def still_latched(
    latched: list[LogProblem], positions: list[Position], epochs: dict[int, str | None]
) -> list[LogProblem]:
    """The latched problems whose checkpoint and epochs have not changed since (pure)."""
    by_key = {(p.consumer, p.topic, p.partition): p for p in positions}
    kept = []
    for problem in latched:
        now = by_key.get((problem.consumer, problem.topic, problem.partition))
        if (
            now is not None
            and now.offset == problem.checkpoint
            and now.epoch == problem.stored_epoch
            and epochs.get(problem.partition) == problem.current_epoch
        ):
            kept.append(problem)
    return kept


# --- Redis --------------------------------------------------------------------------------


def epoch_key(prefix: str, partition: int) -> str:
    """The key holding ``partition``'s log epoch (in the partition's hash slot)."""
    return f"{prefix}:{partition_tag(partition)}:epoch"


def new_epoch() -> str:
    """A fresh random epoch id."""
    return uuid.uuid4().hex


async def read_epochs(
    client: aioredis.Redis, prefix: str, partitions: int
) -> dict[int, str | None]:
    """The epoch of each partition (None where there is none)."""
    pipe = client.pipeline(transaction=False)
    for partition in range(partitions):
        pipe.get(epoch_key(prefix, partition))
    values: list[Any] = await pipe.execute()
    return {
        partition: (value.decode() if isinstance(value, bytes) else value)
        for partition, value in enumerate(values)
    }


async def create_epochs(
    client: aioredis.Redis, prefix: str, partitions: Iterable[int]
) -> dict[int, str]:
    """Create the epoch of each of ``partitions`` unless it exists; return what is stored.

    Callers decide with :func:`may_create` which partitions may get one.
    """
    wanted = list(partitions)
    pipe = client.pipeline(transaction=False)
    for partition in wanted:
        pipe.set(epoch_key(prefix, partition), new_epoch(), nx=True)
        pipe.get(epoch_key(prefix, partition))
    replies: list[Any] = await pipe.execute()
    stored = replies[1::2]
    return {
        partition: value.decode() if isinstance(value, bytes) else str(value)
        for partition, value in zip(wanted, stored, strict=True)
    }


async def set_epoch(client: aioredis.Redis, prefix: str, partition: int, epoch: str) -> None:
    """Overwrite ``partition``'s epoch (``mindhit recover`` only)."""
    await client.set(epoch_key(prefix, partition), epoch)
