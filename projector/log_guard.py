"""The projector's log guard: stop loudly when Redis lost the log under the checkpoints.

Every second it compares the stored checkpoints (projections and archiver, with the
log epoch each was read in) with each partition's epoch and stream highwater
(:func:`mindhit.log_epoch.check_log`). While any checkpoint is not backed by the log
the folding loops, the archiver and the stream trimmer stand still, readiness fails
with the reason and the error is logged: reading from the old positions would only
return nothing (or, once the new log grows past them, the wrong entries).

A problem stays latched while the checkpoint, its epoch and the partition's epoch
are what they were when it was seen, even if the stream grows past the checkpoint
again (a failover to a replica that had not caught up): only ``mindhit recover``,
which stamps the checkpoints with the recovered log's epoch, clears it.

Missing epochs are created here for partitions never read under one (a fresh
install, or checkpoints older than epochs): :func:`mindhit.log_epoch.may_create`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import redis.asyncio as aioredis

from mindhit import checkpoints
from mindhit.log_epoch import (
    LogProblem,
    Position,
    check_log,
    create_epochs,
    describe,
    may_create,
    read_epochs,
    still_latched,
)
from mindhit.logs import get_logger
from mindhit.settings import Settings
from mindhit.streams import highwater
from projector.projections import ARCHIVED_TOPICS, stream_ids

__all__ = ["LogGuard"]

log = get_logger(__name__)

CHECK_EVERY_S = 1.0


class LogGuard:
    """Checks the log under the projector's checkpoints; the loops wait while it is lost."""

    def __init__(
        self, settings: Settings, redis: aioredis.Redis, conn: psycopg.Connection[Any]
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.conn = conn
        self.ids = stream_ids(settings, ARCHIVED_TOPICS)
        self.problems: list[LogProblem] = []
        self.epochs: dict[int, str] = {}
        self._ok = asyncio.Event()
        self._lost = asyncio.Event()

    async def check(self) -> list[LogProblem]:
        """Compare checkpoints with the log once; update :attr:`problems` and the events.

        Steps: load the checkpoints with their epochs; read every partition's epoch,
        creating those :func:`may_create` allows; read the highwaters; decide
        (:func:`check_log`, plus problems still latched); log a change.
        """

        def load() -> list[Position]:
            with self.conn.transaction():
                return checkpoints.positions(self.conn)

        positions = await asyncio.to_thread(load)
        prefix, count = self.settings.key_prefix, self.settings.partitions
        epochs = await read_epochs(self.redis, prefix, count)
        missing = [p for p, e in epochs.items() if e is None and may_create(positions, p)]
        if missing:
            epochs.update(await create_epochs(self.redis, prefix, missing))
        highwaters = {tp: await highwater(self.redis, stream) for stream, tp in self.ids.items()}
        found = check_log(positions, highwaters, epochs)
        seen = {(p.consumer, p.topic, p.partition) for p in found}
        found += [
            p
            for p in still_latched(self.problems, positions, epochs)
            if (p.consumer, p.topic, p.partition) not in seen
        ]
        if found and not self.problems:
            log.error("log_lost", reason=describe(found), problems=len(found))
        elif self.problems and not found:
            log.info("log_recovered")
        self.problems = found
        # In place: the loops stamp their checkpoints from this dict. A vanished epoch
        # keeps its last value: entries still in flight were read in it.
        self.epochs.update({p: e for p, e in epochs.items() if e is not None})
        if found:
            self._ok.clear()
            self._lost.set()
        else:
            self._lost.clear()
            self._ok.set()
        return found

    def readiness(self) -> str | None:
        """Why the projector is not ready because of the log, or None."""
        return describe(self.problems) if self.problems else None

    async def watch(self, stop: asyncio.Event) -> None:
        """Check every :data:`CHECK_EVERY_S` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.check()
            except (psycopg.Error, aioredis.RedisError) as exc:
                log.warning("log_check_failed", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=CHECK_EVERY_S)

    async def run_while_ok(
        self, stop: asyncio.Event, loop: Callable[[asyncio.Event], Awaitable[None]]
    ) -> None:
        """Run ``loop(halt)`` while the log is backed; halt it when the log is lost.

        Steps: wait until a check found no problem; run the loop with an event set on
        ``stop`` or on the next problem; when it returns because of a problem, wait
        for recovery and start it again (so it reloads its checkpoints).
        """
        while not stop.is_set():
            await _first(self._ok.wait(), stop.wait())
            if stop.is_set():
                return
            halt = asyncio.Event()
            relay = asyncio.create_task(_set_when(halt, self._lost, stop))
            try:
                await loop(halt)
            finally:
                relay.cancel()


async def _first(*waits: Awaitable[Any]) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


async def _set_when(target: asyncio.Event, *sources: asyncio.Event) -> None:
    await _first(*(s.wait() for s in sources))
    target.set()
