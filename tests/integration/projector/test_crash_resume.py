"""Crash-then-resume: kill -9 the projector process at random points; tables still exact.

The suite uses a ~30,000-event load; ``bench/projector.py --crash`` runs the same
check with 200,000 events.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.settings import Settings
from projector.overview_drainer import drain_all
from projector.synthetic import synth_log, write_log
from tests.support.servers import free_port

from .conftest import clear_read_tables, fold_all, highwaters, snapshot

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


_LOGS: dict[int, Path] = {}


def start_projector(
    settings: Settings, port: int | None = None, *, lease_ms: int = 1500, level: str = "warning"
) -> subprocess.Popen[bytes]:
    """A ``mindhit projector`` process; its log goes to a file (a pipe nobody reads
    would fill up and block the process). A short lease: a killed replica's partitions
    are free again soon."""
    env = {
        **os.environ,
        "MINDHIT_REDIS_URL": settings.redis_url,
        "MINDHIT_DATABASE_URL": settings.database_url,
        "MINDHIT_KEY_PREFIX": settings.key_prefix,
        "MINDHIT_PARTITIONS": str(settings.partitions),
        "MINDHIT_PROJECTOR_PORT": str(port or free_port()),
        "MINDHIT_LOG_FORMAT": "json",
        "MINDHIT_LOG_LEVEL": level,
        "MINDHIT_PROJECTOR_LEASE_MS": str(lease_ms),
    }
    log = Path(tempfile.mkstemp(prefix="projector-", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mindhit.cli", "projector"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    _LOGS[proc.pid] = log
    return proc


def projector_log(proc: subprocess.Popen[bytes]) -> str:
    """What a projector started by :func:`start_projector` logged."""
    return _LOGS[proc.pid].read_text(errors="replace")


def folded(conn: psycopg.Connection[Any]) -> dict[tuple[str, str, int], int]:
    rows = conn.execute(
        "SELECT projection, topic, partition, next_offset FROM projection_checkpoints"
    ).fetchall()
    conn.commit()
    return {(p, t, n): o for p, t, n, o in rows}


def _drained(conn: psycopg.Connection[Any]) -> bool:
    """Whether the projector's overview drainer left nothing pending."""
    row = conn.execute(
        "SELECT NOT EXISTS (SELECT 1 FROM overview_changes)"
        " AND NOT EXISTS (SELECT 1 FROM overview_change_refs)"  # both kinds (migration 271)
    ).fetchone()
    conn.commit()
    return bool(row and row[0])


async def wait_caught_up(
    settings: Settings, redis: aioredis.Redis, conn: psycopg.Connection[Any], timeout: float = 90
) -> None:
    deadline = time.monotonic() + timeout
    total = sum((await highwaters(settings, redis)).values())
    while time.monotonic() < deadline:
        cps = folded(conn)
        projected = sum(o for (p, _, _), o in cps.items() if p != "archiver")
        archived = sum(o for (p, _, _), o in cps.items() if p == "archiver")
        if projected == total and archived == total and _drained(conn):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"projector did not catch up: {folded(conn)} vs {total}")


async def http_get(port: int, path: str) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split()[1]), body


async def wait_http(port: int, path: str, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return (await http_get(port, path))[0]
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def wait_status(port: int, path: str, status: int, timeout: float = 30) -> None:
    """Wait until ``path`` answers ``status`` (the last answer is in the failure)."""
    await wait_http(port, path)  # the server is up
    deadline = time.monotonic() + timeout
    while (answer := await http_get(port, path))[0] != status:
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} answered {answer}, not {status}")
        await asyncio.sleep(0.1)


async def test_kill_9_at_random_points_then_resume_equals_uninterrupted_run(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    rng = random.Random(20261126)
    items = list(synth_log(21, users=20, sessions_per_user=12, visits_per_session=50))
    events = sum(i.events for i in items)
    assert events > 30_000
    chunks = [items[i : i + len(items) // 6] for i in range(0, len(items), len(items) // 6)]
    kills = 0
    for chunk in chunks:
        await write_log(aredis, settings, chunk)  # the load keeps arriving between crashes
        proc = start_projector(settings)
        await asyncio.sleep(rng.uniform(0.4, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        kills += 1
    port = free_port()
    proc = start_projector(settings, port, level="info")  # its log explains a failure
    try:
        await wait_http(port, "/healthz")
        try:
            await wait_caught_up(settings, aredis, pg)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{projector_log(proc)[-6000:]}") from None
        # ready once its run is up (the health server answers from the process's start)
        await wait_status(port, "/readyz", 200)
        lag_line = (
            'mindhit_projection_lag_entries{partition="0",projection="visits",topic="visits"} 0.0'
        )
        drained = "mindhit_overview_pending_changes 0.0"  # the overview's drainer caught up
        for _ in range(100):
            metrics = (await http_get(port, "/metrics"))[1]
            if lag_line in metrics and drained in metrics:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("no lag gauge (or overview pending gauge) on /metrics")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert proc.returncode == 0, projector_log(proc)[-2000:]
    assert kills == len(chunks)
    drain_all(pg)  # what the killed drainers left pending: nothing lost, nothing twice
    crashed = snapshot(pg)
    # Exactly-once archive despite the crashes: every (entry, part) once, every entry there.
    dupes, entries = pg.execute(
        'SELECT count(*) - count(DISTINCT (topic, partition, "offset", part)),'
        ' count(DISTINCT (topic, partition, "offset")) FROM event_log'
    ).fetchone()  # type: ignore[misc]
    pg.commit()
    assert dupes == 0 and entries == sum((await highwaters(settings, aredis)).values())
    assert len(crashed["page_visits"]) == 20 * 12 * 50

    clear_read_tables(pg)
    await fold_all(settings, aredis, pg)
    assert snapshot(pg) == crashed


async def test_two_projectors_at_once_still_fold_everything_exactly_once(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """Two replicas started together split the partitions and fold everything once."""
    items = list(synth_log(22, users=10, sessions_per_user=6, visits_per_session=30))
    ports = [free_port(), free_port()]
    procs = [start_projector(settings, port) for port in ports]
    try:
        for port in ports:
            await wait_http(port, "/healthz")
        for i in range(0, len(items), 20):
            await write_log(aredis, settings, items[i : i + 20])
            await asyncio.sleep(0.02)
        await wait_caught_up(settings, aredis, pg)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)
    for proc in procs:  # neither replica crashed on the other's writes
        assert proc.returncode == 0, projector_log(proc)[-2000:]
    drain_all(pg)  # what the stopped drainers left pending
    both = snapshot(pg)
    dupes = pg.execute(
        'SELECT count(*) - count(DISTINCT (topic, partition, "offset", part)) FROM event_log'
    ).fetchone()
    pg.commit()
    assert dupes == (0,)
    assert len(both["page_visits"]) == 10 * 6 * 30
    clear_read_tables(pg)
    await fold_all(settings, aredis, pg)
    assert snapshot(pg) == both
