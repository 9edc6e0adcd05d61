"""Archive, retention and replay: the log survives trimming and rebuilds identical tables."""

from __future__ import annotations

from typing import Any

import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.settings import Settings
from projector.append_times import AppendTimes
from projector.append_times_store import load_append_times
from projector.archive import Archiver
from projector.replay import replay
from projector.retention import trim_streams
from projector.synthetic import synth_log, write_log
from schema.derived import SessionStatusChanged
from schema.log import DerivedEntry, encode_derived_entry
from schema.topics import SESSIONS_TOPIC, partition_for, stream_key
from tests.support.processes import run_mindhit

from .conftest import READ_TABLES, fold_all, highwaters, snapshot

pytestmark = pytest.mark.integration


async def archive_all(
    settings: Settings, redis: aioredis.Redis, conn: psycopg.Connection[Any]
) -> None:
    archiver = Archiver(settings, redis, conn)
    await archiver.load()
    while await archiver.turn(block_ms=None):
        pass


async def test_archive_is_exactly_once_and_trimming_keeps_offsets_dense(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    settings = msgspec.structs.replace(settings, stream_retention_s=10.0)
    times = AppendTimes()
    await write_log(
        aredis, settings, synth_log(4, users=6, sessions_per_user=3, visits_per_session=5)
    )
    before = await highwaters(settings, aredis)
    await archive_all(settings, aredis, pg)
    # A restarted archiver resumes from its checkpoint: nothing is archived twice.
    await archive_all(settings, aredis, pg)
    rows = pg.execute(
        'SELECT topic, partition, count(DISTINCT "offset") FROM event_log GROUP BY 1, 2'
    ).fetchall()
    pg.commit()
    archived = {stream_key(settings.key_prefix, t, p): n for t, p, n in rows}
    assert archived == {s: n for s, n in before.items() if n}
    # The projection has not folded yet: retention must not trim past it.
    assert await trim_streams(settings, aredis, pg, times, clock=lambda: 1_000) == 0
    await fold_all(settings, aredis, pg)
    # Everything is archived and folded, but younger than the window: it stays.
    assert await trim_streams(settings, aredis, pg, times, clock=lambda: 10_999) == 0
    # A Faust group that lags on one raw partition holds that partition back, also while
    # its offsets are still in the one hash of a deployment from before Redis Cluster
    # (with the lease fields that hash once held).
    raw0 = stream_key(settings.key_prefix, "raw", 0)
    await aredis.sadd(f"{settings.key_prefix}:groups", "mindhit-processors")
    await aredis.hset(
        f"{settings.key_prefix}:offsets:mindhit-processors",
        mapping={"raw:0": 1, "lease.member": "worker-1", "lease.expires": 99},
    )
    # A restarted projector: the notes saved by the runs before let it trim by age at once.
    restarted = await load_append_times(aredis, settings)
    trimmed = await trim_streams(settings, aredis, pg, restarted, clock=lambda: 11_000)
    assert trimmed > 0
    for stream, hw in before.items():
        earliest = await streams.earliest_offset(aredis, stream)
        if stream == raw0:
            assert earliest <= 1
        else:
            assert earliest == hw, stream
        assert await streams.highwater(aredis, stream) == hw  # offsets stay dense


async def test_replay_rebuilds_identical_tables_from_archive_and_tail(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    settings = msgspec.structs.replace(settings, stream_retention_s=0.0)
    await write_log(
        aredis, settings, synth_log(5, users=5, sessions_per_user=4, visits_per_session=9)
    )
    await fold_all(settings, aredis, pg)
    await archive_all(settings, aredis, pg)
    assert await trim_streams(settings, aredis, pg) > 0  # most of the log is now only archived
    # A live tail beyond the archive.
    await write_log(
        aredis, settings, synth_log(6, users=3, sessions_per_user=1, visits_per_session=7)
    )
    await fold_all(settings, aredis, pg)
    incremental = snapshot(pg)
    seen: list[tuple[int, int]] = []
    result = await replay(settings, aredis, pg, progress=lambda a, b, _: seen.append((a, b)))
    assert result.swapped and result.events > 0
    assert seen and seen[-1][1] == result.events
    assert snapshot(pg) == incremental
    # The live loop carries on after the swap.
    await write_log(
        aredis, settings, synth_log(7, users=2, sessions_per_user=1, visits_per_session=3)
    )
    await fold_all(settings, aredis, pg)
    assert pg.execute("SELECT count(*) FROM sessions").fetchone() == (5 * 4 + 3 + 2,)
    pg.commit()


async def test_replay_diff_reports_per_session_changes(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    await write_log(
        aredis, settings, synth_log(8, users=2, sessions_per_user=2, visits_per_session=4)
    )
    await fold_all(settings, aredis, pg)
    # Somebody hand-edited the read model; replay shows and repairs the drift.
    sid, label = pg.execute("SELECT session_id::text, label FROM sessions LIMIT 1").fetchone()  # type: ignore[misc]
    pg.execute(
        "UPDATE sessions SET status = 'failed', page_count = 99 WHERE session_id = %s", (sid,)
    )
    pg.execute(
        "DELETE FROM page_visits WHERE visit_id IN"
        " (SELECT visit_id FROM page_visits WHERE session_id = %s LIMIT 1)",
        (sid,),
    )
    pg.commit()
    dry = await replay(settings, aredis, pg, diff=True, dry_run=True)
    assert not dry.swapped
    assert [c.session_id for c in dry.changes] == [sid]
    from projector.diff import describe_changes

    line = describe_changes(dry.changes[0])
    assert "status: failed → completed" in line and "page_count: 99 → 4" in line
    assert "visits: 3 → 4" in line and label in line
    assert pg.execute(
        "SELECT page_count FROM sessions WHERE session_id = %s", (sid,)
    ).fetchone() == (99,)
    pg.commit()
    fixed = await replay(settings, aredis, pg, diff=True)
    assert fixed.swapped
    assert pg.execute(
        "SELECT page_count, status FROM sessions WHERE session_id = %s", (sid,)
    ).fetchone() == (4, "completed")
    pg.commit()


async def test_replay_of_one_projection_leaves_the_others(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    await write_log(
        aredis, settings, synth_log(9, users=2, sessions_per_user=1, visits_per_session=4)
    )
    await fold_all(settings, aredis, pg)
    pg.execute("UPDATE sessions SET label = 'hand edited'")
    pg.execute("UPDATE page_visits SET title = 'hand edited'")
    pg.commit()
    await replay(settings, aredis, pg, projections=("visits",))
    assert pg.execute(
        "SELECT count(*) FROM page_visits WHERE title = 'hand edited'"
    ).fetchone() == (0,)
    assert pg.execute("SELECT count(*) FROM sessions WHERE label <> 'hand edited'").fetchone() == (
        0,
    )
    pg.commit()


async def test_status_changes_fold_whatever_the_topic_interleaving(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """A session fed by the raw and sessions topics ends the same however they interleave."""
    await write_log(
        aredis, settings, synth_log(10, users=1, sessions_per_user=1, visits_per_session=2)
    )
    sid, user = "0190a1b2-0000-7000-8000-000000000001", "0190a1b2-0000-7000-8000-0000000000aa"
    late = SessionStatusChanged(
        user_id=user, session_id=sid, status="failed", ts=5, reason="ai down"
    )
    key = stream_key(settings.key_prefix, SESSIONS_TOPIC, partition_for(user, settings.partitions))
    await streams.append(
        aredis, key, encode_derived_entry(DerivedEntry(events=[late])), key=None, timestamp_ms=5
    )
    await fold_all(settings, aredis, pg)
    row = pg.execute(
        "SELECT status, status_reason FROM sessions WHERE session_id = %s", (sid,)
    ).fetchone()
    pg.commit()
    assert row == ("failed", "ai down")


async def test_replay_command_shows_progress_and_diff(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    import asyncio

    await write_log(
        aredis, settings, synth_log(14, users=2, sessions_per_user=2, visits_per_session=5)
    )
    await fold_all(settings, aredis, pg)
    pg.execute("UPDATE sessions SET active_ms = 1 WHERE label = 's1'")
    pg.commit()
    done = await asyncio.to_thread(
        run_mindhit, settings, "replay", "--diff", "--dry-run", timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("active_ms: 1 → ") == 2, done.stdout
    assert "not swapped (dry run)" in done.stdout
    assert "replay" in done.stderr and "ev/s" in done.stderr  # the progress bar
    done = await asyncio.to_thread(run_mindhit, settings, "replay", "--diff", timeout=60)
    assert done.returncode == 0 and "swapped in" in done.stdout, done.stderr
    assert pg.execute("SELECT count(*) FROM sessions WHERE active_ms = 1").fetchone() == (0,)
    pg.commit()


async def test_lost_read_tables_rebuild_from_archive_when_redis_was_trimmed(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """Read tables restored from nothing while Redis keeps only the newest entry."""
    settings = msgspec.structs.replace(settings, stream_retention_s=0.0)
    await write_log(
        aredis, settings, synth_log(15, users=4, sessions_per_user=3, visits_per_session=6)
    )
    await fold_all(settings, aredis, pg)
    await archive_all(settings, aredis, pg)
    assert await trim_streams(settings, aredis, pg) > 0
    before = snapshot(pg)
    pg.execute("DELETE FROM projection_checkpoints WHERE projection <> 'archiver'")
    pg.execute("TRUNCATE " + ", ".join(READ_TABLES))
    pg.commit()
    await fold_all(settings, aredis, pg)
    assert snapshot(pg) == before
