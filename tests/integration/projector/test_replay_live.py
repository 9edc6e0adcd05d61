"""Replay while the log keeps growing and the dashboard keeps querying."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.redis_client import connect_redis
from mindhit.settings import Settings
from projector.replay import replay
from projector.synthetic import synth_log, user_ids, write_log
from tests.support.servers import free_port

from .conftest import clear_read_tables, fold_all, snapshot
from .test_crash_resume import start_projector, wait_caught_up, wait_http

pytestmark = pytest.mark.integration

MONTH_VIEW = (
    "SELECT session_id, label, status, started_at, active_ms, page_count FROM sessions"
    " WHERE user_id = %s AND started_at >= timestamptz '2025-11-01' AND started_at < timestamptz"
    " '2025-12-31' ORDER BY started_at DESC"
)
TIMELINE = (
    "SELECT url, title, start_at, dwell_ms FROM page_visits WHERE session_id ="
    " (SELECT session_id FROM sessions WHERE user_id = %s ORDER BY started_at LIMIT 1)"
    " ORDER BY start_at"
)


def _replay_in_thread(settings: Settings) -> Any:
    async def go() -> Any:
        redis = connect_redis(settings.redis_url)
        try:
            with psycopg.connect(settings.database_url) as conn:
                return await replay(settings, redis, conn)
        finally:
            await redis.aclose()

    return asyncio.run(go())


async def test_replay_during_live_ingest_loses_and_duplicates_nothing(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    users = user_ids(50, 8)
    await write_log(
        aredis, settings, synth_log(50, users=8, sessions_per_user=6, visits_per_session=30)
    )
    port = free_port()
    proc = start_projector(settings, port)
    stop = asyncio.Event()
    answered: list[float] = []
    errors: list[str] = []

    async def dashboard() -> None:
        async with await psycopg.AsyncConnection.connect(
            settings.database_url, autocommit=True
        ) as conn:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    months = await (await conn.execute(MONTH_VIEW, (users[0],))).fetchall()
                    await (await conn.execute(TIMELINE, (users[1],))).fetchall()
                    assert months
                    answered.append(time.perf_counter() - started)
                except Exception as exc:  # every failure is a finding
                    errors.append(repr(exc))
                await asyncio.sleep(0.01)

    async def ingest() -> None:
        items = list(synth_log(51, users=6, sessions_per_user=4, visits_per_session=30))
        for i in range(0, len(items), 6):
            await write_log(aredis, settings, items[i : i + 6])
            await asyncio.sleep(0.05)

    try:
        await wait_http(port, "/healthz")
        await wait_caught_up(settings, aredis, pg)
        watcher = asyncio.create_task(dashboard())
        writer = asyncio.create_task(ingest())
        await asyncio.sleep(0.2)
        result = await asyncio.to_thread(_replay_in_thread, settings)
        await writer
        await wait_caught_up(settings, aredis, pg)
        stop.set()
        await watcher
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert result.swapped
    assert not errors, errors[:3]
    assert len(answered) > 20 and max(answered) < 5.0
    live = snapshot(pg)
    assert len(live["page_visits"]) == 8 * 6 * 30 + 6 * 4 * 30
    assert len(live["sessions"]) == 8 * 6 + 6 * 4
    clear_read_tables(pg)
    await fold_all(settings, aredis, pg)
    again = snapshot(pg)
    for table in live:
        a, b = set(map(repr, live[table])), set(map(repr, again[table]))
        for row in sorted(a - b)[:3]:
            print("LIVE ONLY", table, row)
        for row in sorted(b - a)[:3]:
            print("FRESH ONLY", table, row)
    assert again == live
