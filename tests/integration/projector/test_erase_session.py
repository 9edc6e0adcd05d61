"""Deleting one session: the session scope of the erasure path, and the housekeeping
that drives it (undo window, retention, idle recordings, old archive partitions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit import session_log
from mindhit.session_owners import recorded_owners
from mindhit.session_stops import StopNote, stopped_among
from mindhit.settings import Settings
from mindhit.visit_rows import as_columns
from projector.erase_session import tombstone_key
from projector.housekeeping import Housekeeper
from projector.replay import replay
from projector.synthetic import BASE_TS, synth_log, user_ids, write_log
from schema.derived import SessionErased, VisitRows, VisitsClosed
from schema.log import decode_derived_entry, decode_raw_entry

from .conftest import fold_all, snapshot
from .test_archive_replay import archive_all

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

SESSION_TABLES = ("sessions", "page_visits", "mindmap_graphs")


def _sessions(pg: psycopg.Connection[Any], user: str) -> list[str]:
    rows = pg.execute(
        "SELECT session_id::text FROM sessions WHERE user_id = %s ORDER BY started_at", (user,)
    ).fetchall()
    pg.commit()
    return [r[0] for r in rows]


def _count(pg: psycopg.Connection[Any], table: str, user: str, session: str) -> int:
    row = pg.execute(
        f"SELECT count(*) FROM {table} WHERE user_id = %s AND session_id = %s", (user, session)
    ).fetchone()
    pg.commit()
    return int(row[0]) if row else 0


def _archived_sessions(pg: psycopg.Connection[Any], user: str) -> set[str]:
    """Sessions with events in the user's archive (the erasure marker itself stays)."""
    found: set[str] = set()
    for topic, value in pg.execute(
        "SELECT topic, value FROM event_log WHERE user_id = %s", (user,)
    ).fetchall():
        if topic == "raw":
            found |= {
                e.session_id for u in decode_raw_entry(bytes(value)).uploads for e in u.events
            }
        else:
            for e in decode_derived_entry(bytes(value)).events:
                if isinstance(e, VisitRows):
                    e = as_columns(e)
                if isinstance(e, VisitsClosed):
                    found |= set(e.session_id)
                elif hasattr(e, "session_id") and not isinstance(e, SessionErased):
                    found.add(e.session_id)
    pg.commit()
    return found


async def _setup(
    settings: Settings,
    redis: aioredis.Redis,
    pg: psycopg.Connection[Any],
    seed: int,
    shape: str = "columns",
) -> list[str]:
    users = user_ids(seed, 2)
    for i, user in enumerate(users):
        pg.execute(
            "INSERT INTO users (user_id, email) VALUES (%s, %s)", (user, f"s{seed}-{i}@x.org")
        )
    pg.commit()
    await write_log(
        redis,
        settings,
        synth_log(seed, users=2, sessions_per_user=3, visits_per_session=5, visit_shape=shape),
    )
    await fold_all(settings, redis, pg)
    await archive_all(settings, redis, pg)
    return users


def _housekeeper(
    settings: Settings, redis: aioredis.Redis, database_url: str, at: datetime
) -> Housekeeper:
    ms = int(at.timestamp() * 1000)
    return Housekeeper(settings, redis, psycopg.connect(database_url), clock=lambda: ms)


@pytest.mark.parametrize("shape", ["columns", "rows"])  # visits as the log holds them
async def test_a_due_deletion_erases_one_session_everywhere_and_replay_keeps_it_gone(
    settings: Settings,
    aredis: aioredis.Redis,
    pg: psycopg.Connection[Any],
    database_url: str,
    shape: str,
) -> None:
    user, other = await _setup(settings, aredis, pg, 31 if shape == "columns" else 131, shape)
    doomed, *kept = _sessions(pg, user)
    others_before = {t: snapshot(pg)[t] for t in ("sessions",)}
    now = datetime.now(UTC)
    pg.execute("INSERT INTO session_labels VALUES (%s, %s, 'mine', %s)", (user, doomed, now))
    # Pending within the undo window: nothing happens; past it, the erasure is appended.
    pg.execute(
        "INSERT INTO session_deletions (user_id, session_id, requested_at, due_at)"
        " VALUES (%s, %s, %s, %s)",
        (user, doomed, now, now + timedelta(seconds=30)),
    )
    pg.commit()
    early = _housekeeper(settings, aredis, database_url, now)
    assert (await early.turn()).erasing == 0
    late = _housekeeper(settings, aredis, database_url, now + timedelta(seconds=31))
    assert (await late.turn()).erasing == 1
    await fold_all(settings, aredis, pg)
    await archive_all(settings, aredis, pg)
    for table in SESSION_TABLES:
        assert _count(pg, table, user, doomed) == 0, table
    assert _count(pg, "session_labels", user, doomed) == 0
    assert all(_count(pg, "page_visits", user, s) > 0 for s in kept)
    assert doomed not in _archived_sessions(pg, user)
    assert set(kept) <= _archived_sessions(pg, user)
    state = pg.execute(
        "SELECT state FROM session_deletions WHERE session_id = %s", (doomed,)
    ).fetchone()
    pg.commit()
    assert state == ("done",)
    # The other user's rows are untouched; a replay from the archive keeps the session gone.
    assert [r for r in snapshot(pg)["sessions"] if str(r[1]) == other] == [
        r for r in others_before["sessions"] if str(r[1]) == other
    ]
    before = snapshot(pg)
    assert (await replay(settings, aredis, pg)).swapped
    assert snapshot(pg) == before


async def test_late_events_of_a_deleted_session_stay_out(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any], database_url: str
) -> None:
    user, _ = await _setup(settings, aredis, pg, 32)
    doomed = _sessions(pg, user)[0]
    now = datetime.now(UTC)
    pg.execute(
        "INSERT INTO session_deletions (user_id, session_id, requested_at, due_at, state)"
        " VALUES (%s, %s, %s, %s, 'pending')",
        (user, doomed, now - timedelta(seconds=1), now - timedelta(seconds=1)),
    )
    pg.commit()
    await _housekeeper(settings, aredis, database_url, now).turn()
    await fold_all(settings, aredis, pg)
    # The same log again (a late redelivery of every event): the session does not return.
    await write_log(
        aredis, settings, synth_log(32, users=2, sessions_per_user=3, visits_per_session=5)
    )
    await fold_all(settings, aredis, pg)
    await archive_all(settings, aredis, pg)
    assert {t: _count(pg, t, user, doomed) for t in SESSION_TABLES} == dict.fromkeys(
        SESSION_TABLES, 0
    )
    assert doomed not in _archived_sessions(pg, user)
    # The tombstone keeps it out without keeping its id (a UUIDv7: when the session began),
    # and the id stays the user's for the gateway.
    kept = pg.execute(
        "SELECT session_id::text FROM erased_sessions WHERE user_id = %s", (user,)
    ).fetchall()
    pg.commit()
    assert kept == [(tombstone_key(doomed),)] and kept != [(doomed,)]
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        assert await recorded_owners(conn, [doomed]) == {doomed: user}


async def test_retention_files_old_sessions_and_drops_old_archive_partitions(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any], database_url: str
) -> None:
    user, other = await _setup(settings, aredis, pg, 33)
    sessions = _sessions(pg, user)
    # Sessions start a day apart from BASE_TS; keeping 2 days a day after the last one
    # expires the first two.
    now = datetime.fromtimestamp(BASE_TS / 1000, UTC) + timedelta(days=3, hours=1)
    pg.execute(
        "INSERT INTO user_settings (user_id, retention_days) VALUES (%s, 2)"
        " ON CONFLICT (user_id) DO UPDATE SET retention_days = 2",
        (user,),
    )
    pg.commit()
    keeper = _housekeeper(settings, aredis, database_url, now)
    report = await keeper.turn()
    assert report.expired == 2 and report.erasing == 2  # filed and due at once
    await fold_all(settings, aredis, pg)
    assert _sessions(pg, user) == sessions[2:]
    assert len(_sessions(pg, other)) == 3  # the operator default keeps everything
    # An operator retention drops whole archive partitions that end before it.
    months = {
        r[0]
        for r in pg.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'event_log'::regclass"
        ).fetchall()
    }
    pg.commit()
    assert months
    capped = _housekeeper(
        msgspec.structs.replace(settings, retention_days=30),
        aredis,
        database_url,
        now + timedelta(days=400),
    )
    dropped = (await capped.turn()).dropped_partitions
    # The sessions' month (Nov 2025) ends more than 30 days before "now + 400 days";
    # a partition of a later month (e.g. the current one) stays.
    assert "event_log_202511" in dropped
    assert set(dropped) == {m for m in months if m < "event_log_202611"}


async def test_a_recording_session_idle_for_long_is_stopped_at_its_last_event(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any], database_url: str
) -> None:
    user = user_ids(34, 1)[0]
    pg.execute("INSERT INTO users (user_id, email) VALUES (%s, 'idle@x.org')", (user,))
    pg.commit()
    began = datetime.now(UTC) - timedelta(hours=3)
    began_ms = int(began.timestamp() * 1000)
    created = await session_log.start_session(
        aredis, settings, user, "left open", clock=lambda: began_ms
    )
    await fold_all(settings, aredis, pg)
    keeper = _housekeeper(settings, aredis, database_url, began + timedelta(hours=1))
    assert (await keeper.turn()).closed == 0  # idle for one hour only
    keeper = _housekeeper(settings, aredis, database_url, began + timedelta(hours=3))
    assert (await keeper.turn()).closed == 1
    await fold_all(settings, aredis, pg)
    row = pg.execute(
        "SELECT status, stopped_at FROM sessions WHERE session_id = %s", (created.session_id,)
    ).fetchone()
    pg.commit()
    assert row is not None and row[0] == "processing"
    assert abs((row[1] - began).total_seconds()) < 1
    # The extension still recording it hears of the stop in its next upload's answer: an
    # idle close as of its last event (what it recorded later goes to a new session).
    notes = await stopped_among(aredis, settings.key_prefix, user, [created.session_id])
    assert notes == {created.session_id: StopNote("idle", began_ms)}
