"""Replay with changed settings re-derives history, and the new history stays.

The processors' handlers run over a real raw log on Redis, the projector folds
their output into PostgreSQL, then ``replay`` re-derives it with another AI
provider (the real google-genai client against the local Gemini stub): the diff
names every session whose mind map changed, the swap shows the new summaries,
a later plain replay rebuilds the same tables, late output of lagging live
workers is not projected over it, and an erased user does not come back. The
command line re-derives dwell with another idle threshold and ``mindhit lag``
names the history in force.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.settings import Settings
from processors.ai.gemini import GeminiProvider
from processors.ai.local import LocalProvider
from processors.rederive import Rederiver
from projector.consumer import ProjectionConsumer
from projector.diff import describe_changes
from projector.erase import erase_user
from projector.replay import ReplayError, replay
from schema.topics import partition_for
from tests.integration.processors.pipeline import Pipeline
from tests.support.gemini_stub import GeminiStub
from tests.support.processes import run_mindhit
from tests.unit.processors.browsing import Browser

from .conftest import fold_all, snapshot

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

ANNA = "0190a0b0-0000-7000-8000-00000000a001"
BO = "0190a0b0-0000-7000-8000-00000000b002"
PY = "Python asyncio runs coroutines on an event loop. Tasks, futures and awaitables. " * 8
BREAD = "Sourdough bread needs a lively starter, long fermentation and a hot oven. " * 8
TREKS = "Alpine hiking routes: huts, passes, glaciers and the weather above the tree line. " * 8


def session(client: str, sid: str, pages: list[tuple[str, str]], *, start_ms: int) -> Browser:
    """A session reading each ``(url, text)`` page for a minute, then stopping."""
    b = Browser(client, sid, ts=start_ms)
    b.start("reading")
    for tab, (url, text) in enumerate(pages, start=1):
        b.activate(tab, url, title=url.rsplit("/", 1)[-1])
        b.content(tab, url, text)
        b.wait(60_000)
    b.stop()
    return b


async def record(pipe: Pipeline, user: str, browser: Browser) -> None:
    await pipe.feed(user, browser.client_id, browser.events)


@pytest.fixture
async def stub() -> AsyncIterator[GeminiStub]:
    async with GeminiStub() as server:
        yield server


def gemini(stub: GeminiStub) -> GeminiProvider:
    return GeminiProvider(
        api_key="test-key", model="gemini-2.5-flash", base_url=stub.base_url, timeout_s=5
    )


def rows(conn: psycopg.Connection[Any], query: str, *args: Any) -> list[tuple[Any, ...]]:
    found = conn.execute(query, args).fetchall()
    conn.commit()
    return found


async def rederive(
    settings: Settings,
    redis: aioredis.Redis,
    conn: psycopg.Connection[Any],
    provider: Any,
    **kwargs: Any,
) -> Any:
    rederiver = Rederiver(settings, redis, provider, lambda: 1_800_000_000_000)
    try:
        return await replay(
            settings,
            redis,
            conn,
            deriver=rederiver,
            **kwargs,
        )
    finally:
        await rederiver.aclose()


async def test_replay_with_another_ai_provider_rewrites_history_for_good(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any], stub: GeminiStub
) -> None:
    pipe = Pipeline(aredis, settings, clock_ms=1_795_000_000_000)
    s1, s2, s3 = (f"0190a0b0-0000-7000-8000-0000000000c{i}" for i in (1, 2, 3))
    await record(
        pipe,
        ANNA,
        session(
            "a1",
            s1,
            [("https://py.example/asyncio", PY), ("https://bake.example/sourdough", BREAD)],
            start_ms=1_790_000_000_000,
        ),
    )
    await record(
        pipe,
        BO,
        session("b1", s2, [("https://alps.example/treks", TREKS)], start_ms=1_790_000_100_000),
    )
    await pipe.drain()
    await fold_all(settings, aredis, pg)
    live = snapshot(pg)
    assert len(live["page_visits"]) == 3
    assert rows(pg, "SELECT DISTINCT provider FROM mindmap_graphs") == [("local",)]

    # Same settings: nothing changes (the re-derivation is faithful to the live workers).
    same = await rederive(settings, aredis, pg, LocalProvider(), diff=True, dry_run=True)
    assert not same.swapped and same.changes == [] and not any(same.other.values())
    assert snapshot(pg) == live
    assert rows(pg, "SELECT count(*) FROM derived_log") == [(0,)]  # a dry run keeps nothing

    # Another provider: every session's map and every summary is derived again.
    result = await rederive(settings, aredis, pg, gemini(stub), diff=True)
    assert result.swapped and result.derived_with["ai_provider"] == "gemini"
    lines = [describe_changes(c) for c in result.changes]
    assert sorted(c.session_id for c in result.changes) == sorted([s1, s2])
    assert all("mind map rebuilt" in line for line in lines)
    assert result.other["urls"] > 0
    assert rows(pg, "SELECT DISTINCT provider FROM mindmap_graphs") == [("gemini",)]
    assert {p for (p,) in rows(pg, "SELECT DISTINCT provider FROM urls WHERE summary <> ''")} == {
        "gemini"
    }
    rederived = snapshot(pg)
    assert rederived["page_visits"] == live["page_visits"]  # dwell did not depend on the provider

    # A plain replay rebuilds the re-derived history, not the old one.
    plain = await replay(settings, aredis, pg, diff=True)
    assert plain.changes == [] and not any(plain.other.values())
    assert snapshot(pg) == rederived

    # Recording goes on: the live workers' new output is projected as before.
    await record(
        pipe,
        ANNA,
        session("a2", s3, [("https://py.example/tasks", PY + " more")], start_ms=1_790_000_900_000),
    )
    await pipe.drain()
    await fold_all(settings, aredis, pg)
    assert rows(pg, "SELECT count(*) FROM page_visits") == [(4,)]
    assert rows(pg, "SELECT provider FROM mindmap_graphs WHERE session_id = %s", s3) == [("local",)]

    # Erasure reaches the kept derivation: a replay does not bring the user back.
    await erase_user(settings, aredis, pg, BO, clock=lambda: 1_800_000_000_000)
    assert rows(pg, "SELECT count(*) FROM derived_log WHERE user_id = %s", BO) == [(0,)]
    await replay(settings, aredis, pg)
    assert rows(pg, "SELECT count(*) FROM sessions WHERE user_id = %s", BO) == [(0,)]
    assert rows(pg, "SELECT count(*) FROM page_visits WHERE user_id = %s", ANNA) == [(3,)]


async def test_output_of_lagging_workers_for_rederived_entries_is_not_projected_twice(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any], stub: GeminiStub
) -> None:
    pipe = Pipeline(aredis, settings, clock_ms=1_795_000_000_000)
    sid = "0190a0b0-0000-7000-8000-0000000000d1"
    await record(
        pipe,
        ANNA,
        session("a1", sid, [("https://py.example/asyncio", PY)], start_ms=1_790_000_000_000),
    )
    # The projector folds the raw log; the live workers have not run yet.
    consumer = ProjectionConsumer(settings, aredis, pg)
    await consumer.load()
    while await consumer.turn(block_ms=None):
        pass
    assert rows(pg, "SELECT count(*) FROM page_visits") == [(0,)]

    result = await rederive(settings, aredis, pg, gemini(stub))
    assert result.swapped
    assert rows(pg, "SELECT count(*), min(provider) FROM mindmap_graphs") == [(1, "gemini")]

    # Now the lagging workers catch up with the old settings: their entries derive
    # from raw entries the derivation covers, so the running projector skips them.
    await pipe.drain()
    while await consumer.turn(block_ms=None):
        pass
    assert consumer.derivation is not None and consumer.derivation.generation == result.generation
    assert rows(pg, "SELECT count(*), min(provider) FROM mindmap_graphs") == [(1, "gemini")]
    assert rows(pg, "SELECT count(*) FROM page_visits") == [(1,)]
    assert rows(pg, "SELECT status FROM sessions") == [("completed",)]


async def test_a_page_two_users_read_stays_with_its_first_reader(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """Partitions are re-derived side by side in time, as the live workers ran them."""
    users = [f"0190a0b0-0000-7000-8000-{i:012x}" for i in range(64)]
    by_partition = {partition_for(u, settings.partitions): u for u in reversed(users)}
    low, high = min(by_partition), max(by_partition)
    first, later = by_partition[high], by_partition[low]  # the first reader's partition is last
    pipe = Pipeline(aredis, settings, clock_ms=1_795_000_000_000)
    page = [("https://py.example/asyncio", PY)]
    await record(pipe, first, session("f1", "0190a0b0-0000-7000-8000-0000000000f1", page,
                                      start_ms=1_790_000_000_000))  # fmt: skip
    await pipe.drain()
    await record(pipe, later, session("l1", "0190a0b0-0000-7000-8000-0000000000f2", page,
                                      start_ms=1_790_003_600_000))  # fmt: skip
    await pipe.drain()
    await fold_all(settings, aredis, pg)
    owners = "SELECT user_id::text FROM urls WHERE content_hash <> ''"
    assert rows(pg, owners) == [(first,)]

    same = await rederive(settings, aredis, pg, LocalProvider(), diff=True, dry_run=True)
    assert same.changes == [] and not any(same.other.values()), same.other
    state = [k async for k in aredis.scan_iter(match=f"{settings.key_prefix}:rederive:*")]
    assert state == []  # the re-derivation's fold state is gone with it


async def test_rederive_rebuilds_every_projection(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    with pytest.raises(ReplayError, match="every projection"):
        await rederive(settings, aredis, pg, LocalProvider(), projections=("visits",))


async def test_replaying_with_another_idle_threshold_recomputes_dwell(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """Idle reported 60 s after the last input: 30 s cuts reading short, 600 s joins it up."""
    pipe = Pipeline(aredis, settings, clock_ms=1_795_000_000_000)
    sid = "0190a0b0-0000-7000-8000-0000000000e1"
    b = Browser("a1", sid, ts=1_790_000_000_000)
    b.start("idle spells")
    b.activate(1, "https://py.example/asyncio", title="asyncio")
    b.content(1, "https://py.example/asyncio", PY)
    b.wait(120_000).idle("idle", idle_for_s=60)  # last input 60 s after opening the page
    b.wait(180_000).idle("active")
    b.wait(60_000).stop()
    await record(pipe, ANNA, b)
    await pipe.drain()
    await fold_all(settings, aredis, pg)
    visits = "SELECT dwell_ms FROM page_visits WHERE session_id = %s ORDER BY start_at"
    assert rows(pg, visits, sid) == [(120_000,), (60_000,)]  # idle exactly when reported

    shorter = await asyncio.to_thread(
        run_mindhit, settings, "replay", "--rederive", "--diff", "--dry-run",
        MINDHIT_IDLE_THRESHOLD_S="30",
    )  # fmt: skip
    assert shorter.returncode == 0, shorter.stderr
    assert "active_ms: 180000 → 150000" in shorter.stdout, shorter.stdout
    assert "visits: 2 → 2 (dwell 180s → 150s)" in shorter.stdout
    assert "not swapped (dry run)" in shorter.stdout
    assert rows(pg, visits, sid) == [(120_000,), (60_000,)]  # a dry run changes nothing

    longer = await asyncio.to_thread(
        run_mindhit, settings, "replay", "--rederive", "--diff", MINDHIT_IDLE_THRESHOLD_S="600"
    )
    assert longer.returncode == 0, longer.stderr
    assert "visits: 2 → 1 (dwell 180s → 360s)" in longer.stdout, longer.stdout
    assert "history re-derived as generation" in longer.stdout
    assert "idle_threshold_s=600" in longer.stdout
    assert rows(pg, visits, sid) == [(360_000,)]
    assert rows(pg, "SELECT active_ms FROM sessions WHERE session_id = %s", sid) == [(360_000,)]

    lag = await asyncio.to_thread(run_mindhit, settings, "lag")
    assert lag.returncode == 0, lag.stderr
    assert "history re-derived: generation" in lag.stdout and "idle_threshold_s=600" in lag.stdout
