"""Replay: rebuild read tables from the archive plus the live tail, then swap atomically.

Two phases. The *build* folds the log into shadow tables (``<table>__shadow``,
:mod:`projector.shadow`) while the dashboard keeps reading the live tables and the
live projector keeps folding; it then catches up with what the live projector
committed meanwhile, the last time holding the projections' write locks so the
live checkpoints stand still. The *swap* (:func:`projector.swap.swap`) renames the
shadows in, inside one short transaction that reads nothing from Redis: it only
checks that the checkpoints it caught up to have not moved. Memory stays flat: the archive is read
through pages and the tail through bounded stream reads, folded in fixed-size
batches.

With a ``deriver`` (``mindhit replay --rederive``) the derived topics are not read
back from the log below the cutover (the raw targets): every raw entry is handed to
the deriver (the processors' handlers with the current settings) and what it returns
is folded instead, and kept as a new generation (:mod:`projector.derivations`) that
the swap puts in force.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
import psycopg
import redis.asyncio as aioredis

from mindhit import checkpoints, streams
from mindhit.checkpoints import CheckpointKey, Checkpoints
from mindhit.logs import get_logger
from mindhit.settings import Settings
from projector.derivations import Derivation, drop_unrecorded, latest_derivation, new_generation
from projector.diff import SessionChange
from projector.history import HistoryGap, StreamHistory, by_time, tail_entries
from projector.pg import ensure_temp_tables, load_erased
from projector.projections import PROJECTIONS, projection_of_topic, stream_ids, tables_of
from projector.shadow import Deriver, OnProgress, ShadowBuild, create_shadows, drop_shadows
from projector.swap import NewDerivation, SwapLocked, SwapOutcome, swap, write_locks
from schema.topics import RAW_TOPIC

__all__ = ["ReplayError", "ReplayPlan", "ReplayResult", "replay"]

log = get_logger(__name__)


class ReplayError(RuntimeError):
    """The log cannot be replayed (entries missing from both the archive and Redis, or
    the live tables stayed locked)."""


class ReplayResult(msgspec.Struct, kw_only=True):
    """What a replay did."""

    projections: tuple[str, ...]
    entries: int
    events: int
    seconds: float
    swapped: bool
    changes: list[SessionChange] = []
    other: dict[str, int] = {}
    generation: int = 0
    superseded: int = 0
    derived_with: dict[str, Any] = {}


class ReplayPlan(msgspec.Struct, kw_only=True):
    """What a replay rebuilds and up to where."""

    projections: tuple[str, ...]
    tables: tuple[str, ...]
    ids: dict[str, tuple[str, int]]
    """Stream key → (topic, partition)."""
    keys: dict[str, CheckpointKey]
    """Stream key → its checkpoint key."""
    targets: dict[str, int]
    """Stream key → offset the build folds up to."""
    generation: int
    cutover: dict[int, int]
    in_force: Derivation | None = None
    """The derivation in force (a plain replay folds its kept entries)."""


async def replay(
    settings: Settings,
    redis: aioredis.Redis,
    conn: psycopg.Connection[Any],
    *,
    projections: tuple[str, ...] = tuple(PROJECTIONS),
    diff: bool = False,
    dry_run: bool = False,
    deriver: Deriver | None = None,
    progress: OnProgress | None = None,
) -> ReplayResult:
    """Rebuild ``projections`` into shadow tables and swap them in.

    Steps:
      1. create empty shadow tables shaped like the live ones;
      2. take the target: each stream's live checkpoint (or its highwater when the
         projection never ran); with ``deriver``, the raw targets are the cutover
         and a new generation number is reserved;
      3. build (:func:`_build`): per stream, fold the archive below the target, then
         the Redis tail up to the target, in batches;
      4. catch up, without locks, with what the live projector committed meanwhile;
      5. take the projections' write locks (the live projector's commits wait from
         here on), catch up with its last commits, then swap the shadows in
         (:func:`projector.swap.swap`); release the write locks;
      6. drop the unused shadows and generation when nothing was swapped in.

    Raises:
        ReplayError: entries are missing from both the archive and Redis, or
            ``deriver`` was given for only some projections.
    """
    started = time.perf_counter()
    if deriver is not None and set(projections) != set(PROJECTIONS):
        raise ReplayError("re-deriving history rebuilds every projection")
    ensure_temp_tables(conn)
    conn.commit()
    plan = await _plan(settings, redis, conn, projections, rederive=deriver is not None)
    build = ShadowBuild(
        conn,
        create_shadows(conn, plan.tables),
        load_erased(conn),
        derive=deriver.derive if deriver is not None else None,
        generation=plan.generation,
        cutover=plan.cutover,
        progress=progress,
        total=sum(plan.targets.values()),
    )
    conn.commit()
    try:
        positions = await _build(conn, redis, plan, build, rederive=deriver is not None)
        positions, _ = await _catch_up(conn, redis, plan, build, positions)
        with write_locks(conn, plan.projections):
            positions, seen = await _catch_up(conn, redis, plan, build, positions)
            advance = {plan.keys[s]: positions[s] for s in plan.keys}
            outcome = await swap(
                conn,
                projections,
                advance,
                seen=seen,
                diff=diff,
                dry_run=dry_run,
                derivation=_new_derivation(plan, build, deriver),
            )
    except (HistoryGap, SwapLocked) as exc:
        raise ReplayError(str(exc)) from exc
    if not outcome.swapped:
        drop_shadows(conn, plan.tables)
        if deriver is not None:
            drop_unrecorded(conn, plan.generation)
    return _result(plan, build, outcome, deriver, started)


def _new_derivation(
    plan: ReplayPlan, build: ShadowBuild, deriver: Deriver | None
) -> NewDerivation | None:
    if deriver is None:
        return None
    return NewDerivation(
        generation=plan.generation,
        settings=dict(deriver.settings),
        cutover=plan.cutover,
        entries=build.derived,
    )


def _result(
    plan: ReplayPlan,
    build: ShadowBuild,
    outcome: SwapOutcome,
    deriver: Deriver | None,
    started: float,
) -> ReplayResult:
    log.info(
        "replay_done",
        projections=plan.projections,
        entries=build.entries,
        events=build.events,
        generation=plan.generation,
        superseded=build.superseded,
    )
    return ReplayResult(
        projections=plan.projections,
        entries=build.entries,
        events=build.events,
        seconds=time.perf_counter() - started,
        swapped=outcome.swapped,
        changes=outcome.changes,
        other=outcome.other,
        generation=plan.generation if (outcome.swapped or deriver is None) else 0,
        superseded=build.superseded,
        derived_with=dict(deriver.settings) if deriver is not None else {},
    )


async def _plan(
    settings: Settings,
    redis: aioredis.Redis,
    conn: psycopg.Connection[Any],
    projections: tuple[str, ...],
    *,
    rederive: bool,
) -> ReplayPlan:
    """Streams, targets and the generation (a new one when re-deriving)."""
    ids = stream_ids(settings, [t for p in projections for t in PROJECTIONS[p].topics])
    keys = {s: (projection_of_topic(topic), topic, n) for s, (topic, n) in ids.items()}
    stored = checkpoints.load(conn, projections)
    targets: dict[str, int] = {}
    for stream, key in keys.items():
        targets[stream] = stored[key] if key in stored else await streams.highwater(redis, stream)
    conn.commit()
    in_force = None
    if rederive:
        drop_unrecorded(conn)
        generation = new_generation(conn)
        cutover = {p: targets[s] for s, (t, p) in ids.items() if t == RAW_TOPIC}
    else:
        in_force = latest_derivation(conn)
        generation = in_force.generation if in_force else 0
        cutover = in_force.cutover if in_force else {}
    return ReplayPlan(
        in_force=None if rederive else in_force,
        projections=projections,
        tables=tables_of(projections),
        ids=ids,
        keys=keys,
        targets=targets,
        generation=generation,
        cutover=cutover,
    )


async def _build(
    conn: psycopg.Connection[Any],
    redis: aioredis.Redis,
    plan: ReplayPlan,
    build: ShadowBuild,
    *,
    rederive: bool,
) -> dict[str, int]:
    """Fold every stream up to its target into the shadows; return where each ended.

    Re-deriving folds the raw partitions side by side in log time first. Derived
    streams of a plain replay fold the kept entries of the derivation in force
    first, then the live ones it does not supersede.
    """
    histories = {s: StreamHistory(conn, redis, s, plan.ids[s], plan.targets[s]) for s in plan.ids}
    if rederive:
        raw = [h for h in histories.values() if h.where[0] == RAW_TOPIC]
        async for partition, offset, value in by_time([(h.where[1], h.entries()) for h in raw]):
            await build.fold_entry(RAW_TOPIC, partition, offset, value)
    for history in histories.values():
        topic, partition = history.where
        if rederive and topic == RAW_TOPIC:
            continue
        if plan.in_force is not None and topic != RAW_TOPIC:
            build.fold_generation(plan.in_force, topic, partition)
        build.start_stream()
        async for offset, value in history.entries():
            await build.fold_entry(topic, partition, offset, value)
    build.finish()
    return {s: h.position for s, h in histories.items()}


async def _catch_up(
    conn: psycopg.Connection[Any],
    redis: aioredis.Redis,
    plan: ReplayPlan,
    build: ShadowBuild,
    positions: dict[str, int],
) -> tuple[dict[str, int], Checkpoints]:
    """Fold, from Redis, what the live projector committed past ``positions``.

    Returns the positions after it and the live checkpoints it caught up to. Holds no
    lock: what it reads is committed and stays in the log.
    """
    live = checkpoints.load(conn, plan.projections)
    conn.commit()
    caught_up = dict(positions)
    for stream, key in plan.keys.items():
        target = live.get(key, positions[stream])
        if target <= positions[stream]:
            continue
        topic, partition = plan.ids[stream]
        build.start_stream()
        async for offset, value in tail_entries(redis, stream, positions[stream], target):
            await build.fold_entry(topic, partition, offset, value)
            caught_up[stream] = offset + 1
    build.finish()
    return caught_up, live
