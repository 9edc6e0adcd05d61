"""The projector process: the only module that reads settings and builds clients.

Runs, in one asyncio loop: this replica's membership of the projector group
(heartbeats, partition leases: :mod:`projector.group`), the projection consumer and the
archiver on the partitions it holds, the retention
trimmer (every few seconds), the overview's drainer (:mod:`projector.overview_drainer`,
one replica at a time), housekeeping (session deletions, history retention, idle
recordings), the lag gauges, and the health/metrics server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import socket
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import psycopg
import redis.asyncio as aioredis

from mindhit.clock import Clock, system_clock
from mindhit.logs import get_logger
from mindhit.redis_client import UNREACHABLE, connect_redis
from mindhit.redis_retry import backoff_s
from mindhit.settings import Settings
from projector import fencing, metrics
from projector.append_times_store import load_append_times
from projector.archive import Archiver
from projector.consumer import ProjectionConsumer
from projector.group import ProjectorGroup, Round, run_rounds
from projector.health import Ready, serve_health
from projector.housekeeping import Housekeeper
from projector.log_guard import LogGuard
from projector.overview_drainer import DRAIN_EVERY_S, OverviewDrainer
from projector.retention import TrimFence, trim_streams

__all__ = ["run_projector"]

log = get_logger(__name__)

Labels = tuple[str, str, str]
"""(projection, topic, partition) labels of the lag gauge."""

RESTART_AFTER_S = 1.0
RESTART_AT_MOST_S = 10.0
"""A run that keeps failing to start is tried again after 1 s, then 2, 4, 8, 10, 10… s."""
RESTARTED_ON: tuple[type[Exception], ...] = (psycopg.OperationalError, *UNREACHABLE)
"""Errors that end a run to start it again (a lost connection), not the process."""
TRIM_EVERY_S = 5.0
STALE_AFTER_S = 30.0


def _drainer(
    settings: Settings, database_url: str, name: str, conn: psycopg.Connection[Any]
) -> OverviewDrainer:
    """The overview's drainer on ``conn``: a drain left idle half a lease (the replica
    paused inside it) is ended, and the drainer reconnects under the replica's name."""
    return OverviewDrainer(
        conn,
        connect=lambda: psycopg.connect(database_url, application_name=name),
        idle_timeout_ms=max(1000, settings.projector_lease_ms // 2),
    )


async def _every(stop: asyncio.Event, seconds: float, fn: Callable[[], Any]) -> None:
    while not stop.is_set():
        try:
            await fn()
        except (psycopg.Error, aioredis.RedisError) as exc:
            log.error("periodic_task_failed", task=getattr(fn, "__name__", "?"), error=str(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)


async def run_projector(
    settings: Settings,
    redis_url: str,
    database_url: str,
    *,
    stop: asyncio.Event | None = None,
    archive: bool = True,
    serve: bool = True,
    clock: Clock = system_clock,
) -> None:
    """Run until ``stop`` is set (or SIGTERM/SIGINT); ``clock`` dates housekeeping's work.

    A lost connection (PostgreSQL or Redis restarting, a Redis Cluster failing over:
    ``CLUSTERDOWN``) ends the run and starts it again from scratch a second later, in
    the same process: new connections (on a cluster, found through every node the
    process knew, not only the URL's, which may be the one that died), the partitions
    taken again, every loop resumed from its checkpoints (what a supervisor's restart
    would do). A run that cannot even start (Redis or PostgreSQL unreachable since the
    process started) is tried again after 1, 2, 4, 8, then every 10 s, each time logged as
    ``projector_connection_lost_restarting``; the health server runs meanwhile
    (``/healthz`` 200, ``/readyz`` 503 with the reason). Any other error ends the process.
    """
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    readiness = _Readiness()
    server = (
        await serve_health(settings.projector_host, settings.projector_port, readiness.ready)
        if serve
        else None
    )
    failures = 0
    try:
        while not stop.is_set():
            attempt = asyncio.Event()
            relay = asyncio.create_task(_relay(stop, attempt))
            readiness.started = False
            try:
                await _run(settings, redis_url, database_url, attempt, archive, readiness, clock)
            except RESTARTED_ON as exc:
                if stop.is_set():
                    return
                failures = 1 if readiness.started else failures + 1
                pause = backoff_s(failures, first=RESTART_AFTER_S, cap=RESTART_AT_MOST_S)
                readiness.down(repr(exc))
                log.error(
                    "projector_connection_lost_restarting",
                    error=repr(exc),
                    attempt=failures,
                    retry_in_s=pause,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=pause)
            finally:
                relay.cancel()
    finally:
        if server is not None:
            server.close()


class _Readiness:
    """What ``/readyz`` answers: the running attempt's checks, else why none runs.

    The health server lives as long as the process, so while Redis or PostgreSQL cannot
    be reached at start-up (or between two attempts) ``/healthz`` answers and ``/readyz``
    says 503 and why, instead of refusing connections (which a liveness probe would
    take for a dead process).
    """

    def __init__(self) -> None:
        self._check: Ready | None = None
        self._reason = "starting"
        self.started = False
        """Whether the last attempt got as far as running (then failures count anew)."""

    def up(self, check: Ready) -> None:
        """An attempt runs: readiness is its ``check``."""
        self._check, self.started = check, True

    def down(self, reason: str) -> None:
        """No attempt runs, because of ``reason``."""
        self._check, self._reason = None, reason

    async def ready(self) -> tuple[bool, str]:
        """The answer of ``/readyz``."""
        if self._check is None:
            return False, f"not running: {self._reason}"
        return await self._check()


async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()


async def _run(
    settings: Settings,
    redis_url: str,
    database_url: str,
    stop: asyncio.Event,
    archive: bool,
    readiness: _Readiness,
    clock: Clock,
) -> None:
    """One run of the projector, until ``stop`` is set or a loop fails.

    Steps at start: connect Redis and PostgreSQL (one connection per loop);
    check the log under the checkpoints once (:class:`projector.log_guard.LogGuard`);
    start the health server; join the projector group (heartbeats); then run the
    consumer and archiver on the partitions the group gives this replica
    (:func:`projector.group.run_rounds`), only while the log backs the checkpoints
    (they resume from their checkpoints whenever a round starts), the trimmer and the
    overview's drainer.
    Any loop failing stops all; at the end the replica releases its partitions.
    """
    redis = connect_redis(redis_url)
    member = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    name = fencing.connection_name(member)  # a claim waiting on this replica finds them by it
    conns = [psycopg.connect(database_url, application_name=name) for _ in range(6)]
    consumer = ProjectionConsumer(settings, redis, conns[0])
    archiver = Archiver(settings, redis, conns[1])
    group = _group(settings, redis, conns[0], member)
    housekeeper = Housekeeper(settings, redis, conns[3], clock=clock)
    guard = LogGuard(settings, redis, conns[4])
    drainer = _drainer(settings, database_url, name, conns[5])
    consumer.epochs = archiver.epochs = guard.epochs
    await guard.check()

    # when entries were appended, as the trimmer saw them (saved by earlier runs)
    append_times = await load_append_times(redis, settings)

    async def trim() -> None:
        if not guard.problems:  # a lost log's new entries sit below the old checkpoints
            await trim_streams(settings, redis, conns[2], append_times, clock, fence=_held(group))

    async def housekeeping() -> None:
        await housekeeper.turn()

    async def drain() -> None:
        await drainer.turn()

    shown: set[Labels] = set()

    async def gauges() -> None:
        await _set_lag_gauges(redis, consumer, archiver, shown)

    readiness.up(partial(_ready, redis, consumer, guard))
    loops: list[Round] = [consumer.run, archiver.run] if archive else [consumer.run]
    tasks = [
        asyncio.create_task(guard.watch(stop), name="log-guard"),
        asyncio.create_task(group.heartbeats(stop), name="heartbeats"),
        asyncio.create_task(
            guard.run_while_ok(stop, partial(run_rounds, group=group, loops=loops)),
            name="folding",
        ),
    ]
    if archive:
        tasks.append(asyncio.create_task(_every(stop, TRIM_EVERY_S, trim), name="trim"))
    every = settings.housekeeping_interval_s
    tasks.append(asyncio.create_task(_every(stop, every, housekeeping), name="housekeeping"))
    tasks.append(asyncio.create_task(_every(stop, 2.0, gauges), name="gauges"))
    tasks.append(asyncio.create_task(_every(stop, DRAIN_EVERY_S, drain), name="overview"))
    log.info("projector_started", host=settings.projector_host, port=settings.projector_port)
    try:
        await _until_stopped_or_failed(tasks, stop)
    finally:
        readiness.down("stopped")
        await group.leave()
        consumer.reader.close()
        archiver.reader.close()
        await redis.aclose()
        for conn in [*conns, drainer.conn]:
            conn.close()
        log.info("projector_stopped")


def _group(
    settings: Settings, redis: aioredis.Redis, conn: psycopg.Connection[Any], member: str
) -> ProjectorGroup:
    """This replica's membership of the projector group (claims on the consumer's
    connection: they run only between folding rounds). A claim waits for the previous
    holder's commit in flight at most half a lease, then ends it (its lease expired)."""
    wait_s = settings.projector_lease_ms / 2000

    async def claim(partitions: set[int]) -> dict[int, int]:
        return await asyncio.to_thread(fencing.claim, conn, partitions, member, wait_s=wait_s)

    return ProjectorGroup(
        redis, settings.key_prefix, settings.partitions, member, settings.projector_lease_ms, claim
    )


def _held(group: ProjectorGroup) -> TrimFence:
    """The partitions this replica trims: those it holds, each while its lease does."""
    return TrimFence(member=group.member, partitions=frozenset(group.held))


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def _ready(
    redis: aioredis.Redis, consumer: ProjectionConsumer, guard: LogGuard
) -> tuple[bool, str]:
    """Readiness: Redis answers, the log backs the checkpoints, the consumer's loop turns."""
    try:
        await redis.ping()
    except aioredis.RedisError as exc:
        return False, f"redis: {exc}"
    lost = guard.readiness()
    if lost is not None:
        return False, lost
    if consumer.conn.closed:
        return False, "postgres connection closed"
    if time.monotonic() - consumer.last_turn > STALE_AFTER_S:
        return False, "projection loop stalled"
    return True, "ready"


async def _set_lag_gauges(
    redis: aioredis.Redis, consumer: ProjectionConsumer, archiver: Archiver, shown: set[Labels]
) -> None:
    """Set the lag of the partitions this replica holds; drop those it no longer holds
    (another replica reports them: a stale value would feed the autoscaler phantom lag)."""
    now: dict[Labels, int] = {
        (projection, topic, str(partition)): lag
        for (projection, topic, partition), lag in (await consumer.lag()).items()
    }
    for (topic, partition), lag in (await archiver.lag()).items():
        now[("archiver", topic, str(partition))] = lag
    for labels in shown - now.keys():
        with contextlib.suppress(KeyError):
            metrics.LAG.remove(*labels)
    for labels, lag in now.items():
        metrics.LAG.labels(*labels).set(lag)
    shown.clear()
    shown.update(now)


async def _until_stopped_or_failed(tasks: list[asyncio.Task[Any]], stop: asyncio.Event) -> None:
    """Wait until ``stop`` is set or a task ends (re-raising its error); then stop them all."""
    try:
        done, _ = await asyncio.wait(
            [*tasks, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
