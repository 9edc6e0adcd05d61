"""Right to erasure: every trace goes, from tables, archive and hot log, and stays gone."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.offsets import save_committed
from mindhit.redis_client import connect_redis
from mindhit.settings import Settings
from mindhit.streams import quarantine_key
from projector.replay import replay
from projector.retention import trim_streams
from projector.synthetic import synth_log, user_ids, write_log
from schema.derived import UserErased
from schema.log import DerivedEntry, decode_derived_entry, decode_raw_entry, encode_derived_entry
from schema.topics import RAW_TOPIC, SESSIONS_TOPIC, partition_for, stream_key
from tests.support.processes import run_mindhit

from .conftest import fold_all, highwaters
from .test_archive_replay import archive_all

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

USER_TABLES = ("sessions", "page_visits", "mindmap_graphs", "urls", "event_log")


def rows_of(
    conn: psycopg.Connection[Any], user: str, tables: tuple[str, ...] = USER_TABLES
) -> dict[str, int]:
    counts = {
        t: conn.execute(f"SELECT count(*) FROM {t} WHERE user_id = %s", (user,)).fetchone()[0]  # type: ignore[index]
        for t in tables
    }
    conn.commit()
    return counts


async def hot_users(settings: Settings, redis: aioredis.Redis) -> set[str]:
    """Users with data still readable in the Redis streams (UserErased markers excluded)."""
    found: set[str] = set()
    for stream in await highwaters(settings, redis):
        topic = stream.rsplit(":", 1)[1]
        for _, fields in await redis.xrange(stream):
            value = fields[b"v"]
            if topic == RAW_TOPIC:
                found |= {u.user_id for u in decode_raw_entry(value).uploads}
            else:
                events = decode_derived_entry(value).events
                found |= {e.user_id for e in events if not isinstance(e, UserErased)}
    return found


async def quarantined_users(settings: Settings, redis: aioredis.Redis) -> list[str]:
    """Owners of the rejected events kept in the quarantine stream."""
    entries = await redis.xrange(quarantine_key(settings.key_prefix))
    return sorted(fields[b"user_id"].decode() for _, fields in entries)


async def quarantine(settings: Settings, redis: aioredis.Redis, *users: str) -> None:
    """Keep one rejected event (with a URL in it) per user, as the gateway does."""
    for user in users:
        await redis.xadd(
            quarantine_key(settings.key_prefix),
            {"user_id": user, "field": "ts", "reason": "bad", "event": b'{"url":"https://x/"}'},
        )


async def _setup(
    settings: Settings, redis: aioredis.Redis, pg: psycopg.Connection[Any], seed: int
) -> list[str]:
    users = user_ids(seed, 3)
    for i, user in enumerate(users):
        pg.execute(
            "INSERT INTO users (user_id, email) VALUES (%s, %s)", (user, f"u{seed}-{i}@example.com")
        )
    pg.commit()
    await write_log(
        redis, settings, synth_log(seed, users=3, sessions_per_user=2, visits_per_session=6)
    )
    await fold_all(settings, redis, pg)
    await archive_all(settings, redis, pg)
    return users


async def test_erase_command_removes_everything_and_replay_does_not_bring_it_back(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    gone, *kept = await _setup(settings, aredis, pg, 11)
    assert all(rows_of(pg, gone).values())
    await quarantine(settings, aredis, gone, kept[0], gone)
    result = await asyncio.to_thread(
        run_mindhit, settings, "erase", "--user", "U11-0@example.com", "--yes", timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert f"erased user {gone}" in result.stdout and "still hold" not in result.stdout
    assert not any(rows_of(pg, gone, (*USER_TABLES, "users")).values())
    assert gone not in await hot_users(settings, aredis)
    assert await quarantined_users(settings, aredis) == [kept[0]]
    kept_before = {u: rows_of(pg, u) for u in kept}
    # The projector then folds the UserErased marker and more traffic of others; replay.
    await write_log(
        aredis, settings, synth_log(12, users=2, sessions_per_user=1, visits_per_session=3)
    )
    await fold_all(settings, aredis, pg)
    await archive_all(settings, aredis, pg)
    result2 = await replay(settings, aredis, pg)
    assert result2.swapped
    assert not any(rows_of(pg, gone).values())
    assert {u: rows_of(pg, u) for u in kept} == kept_before
    assert pg.execute(
        "SELECT count(*) FROM erased_users WHERE user_id = %s", (gone,)
    ).fetchone() == (1,)
    pg.commit()


async def test_user_erased_event_waits_for_slow_consumers_before_purging_redis(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    users = await _setup(settings, aredis, pg, 13)
    gone = users[1]
    await quarantine(settings, aredis, gone, users[0])
    raw = stream_key(settings.key_prefix, RAW_TOPIC, partition_for(gone, settings.partitions))
    # A Faust group still needs the user's raw partition from offset 0.
    raw_partition = partition_for(gone, settings.partitions)
    await save_committed(aredis, settings.key_prefix, "slow", {(RAW_TOPIC, raw_partition): 0})
    cut = 1_800_000_000_000  # after everything _setup recorded
    marker = UserErased(user_id=gone, ts=cut, reason="asked in the dashboard")
    sessions = stream_key(
        settings.key_prefix, SESSIONS_TOPIC, partition_for(gone, settings.partitions)
    )
    from mindhit import streams

    await streams.append(
        aredis,
        sessions,
        encode_derived_entry(DerivedEntry(events=[marker])),
        key=None,
        timestamp_ms=marker.ts,
    )
    await fold_all(settings, aredis, pg)
    assert not any(rows_of(pg, gone).values())
    assert await quarantined_users(settings, aredis) == [users[0]]
    await archive_all(settings, aredis, pg)
    await trim_streams(settings, aredis, pg)
    assert gone in await hot_users(settings, aredis)  # held back by the slow group
    pending = pg.execute(
        "SELECT stream FROM erasure_purges WHERE user_id = %s AND done_at IS NULL", (gone,)
    ).fetchall()
    pg.commit()
    assert pending == [(raw,)]
    hw = await streams.highwater(aredis, raw)
    await save_committed(aredis, settings.key_prefix, "slow", {(RAW_TOPIC, raw_partition): hw})
    await trim_streams(settings, aredis, pg)
    assert gone not in await hot_users(settings, aredis)
    assert pg.execute("SELECT count(*) FROM erasure_purges WHERE done_at IS NULL").fetchone() == (
        0,
    )
    pg.commit()
    # The account lives on (dashboard erasure): what they record next is projected,
    # and survives a replay, while everything before the erasure stays gone.
    await write_log(
        aredis,
        settings,
        [
            i
            for i in synth_log(
                13, users=3, sessions_per_user=1, visits_per_session=6, base_ts=cut + 1
            )
            if i.key == gone
        ],
    )
    await fold_all(settings, aredis, pg)
    await archive_all(settings, aredis, pg)
    after = rows_of(pg, gone)
    assert after["sessions"] == 1 and after["page_visits"] == 6 and after["event_log"] > 0
    await replay(settings, aredis, pg)
    assert rows_of(pg, gone) == after
    assert pg.execute(
        "SELECT count(*) FROM sessions"
        " WHERE user_id = %s AND started_at < to_timestamp(%s / 1000.0)",
        (gone, cut),
    ).fetchone() == (0,)
    pg.commit()


async def test_erasure_during_a_replay_is_not_undone_by_the_swap(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    import threading

    from mindhit.clock import system_clock
    from projector.erase import erase_user

    users = await _setup(settings, aredis, pg, 16)
    await write_log(
        aredis, settings, synth_log(17, users=4, sessions_per_user=6, visits_per_session=5)
    )
    await fold_all(settings, aredis, pg)
    gone = users[2]
    threads: list[threading.Thread] = []

    def erase_in_background() -> None:
        async def go() -> None:
            redis = connect_redis(settings.redis_url)
            try:
                with psycopg.connect(settings.database_url) as conn:
                    await erase_user(settings, redis, conn, gone, clock=system_clock)
            finally:
                await redis.aclose()

        asyncio.run(go())

    def progress(entries: int, events: int, total: int) -> None:
        if not threads:  # mid-replay: the shadow tables exist and are half built
            threads.append(threading.Thread(target=erase_in_background))
            threads[0].start()

    result = await replay(settings, aredis, pg, progress=progress)
    # Replay leaves no transaction open (it would hold the erasure waiting).
    assert pg.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    threads[0].join(timeout=60)
    assert threads and not threads[0].is_alive() and result.swapped
    assert not any(rows_of(pg, gone, (*USER_TABLES, "users")).values())
    assert all(rows_of(pg, u)["page_visits"] for u in users if u != gone)
