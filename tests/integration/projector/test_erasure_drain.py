"""An erasure drains the overview's backlog without holding every fold up: in bounded
transactions under the erasure lock held shared first, then, holding it exclusively,
only what arrived meanwhile; it still leaves nothing of what it erased in the rollups.

Statement triggers on both kinds of pending change (``overview_changes``' rows and
``overview_change_refs``' references, each counting the visits it names) note every
drain: its transaction, how many changes it took and whether its backend held the
erasure lock exclusively (``pg_locks``), so the test sees what ran under the lock every
fold waits for. The backlog is folded in small batches (many references): a drain takes
whole references, so it may pass its bound by at most one of them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.clock import system_clock
from mindhit.erasures import ERASE_LOCK
from mindhit.settings import Settings
from projector import consumer as consumer_module
from projector import overview_drainer
from projector.consumer import ProjectionConsumer
from projector.erase import erase_user
from projector.overview_drainer import pending
from projector.synthetic import synth_log, user_ids, write_log
from schema.derived import SessionErased
from schema.log import DerivedEntry, encode_derived_entry
from schema.topics import SESSIONS_TOPIC, partition_for, stream_key

from .test_overview_drain import _fold_only
from .test_overview_rollups import _check

pytestmark = pytest.mark.integration

CHUNK = 40
_OBSERVE = f"""
CREATE TABLE drain_observed (
  n bigserial, tx bigint NOT NULL, taken bigint NOT NULL, exclusive boolean NOT NULL);
CREATE FUNCTION observe_drain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO drain_observed (tx, taken, exclusive) SELECT txid_current(),
    CASE TG_TABLE_NAME WHEN 'overview_change_refs' THEN (SELECT sum(visits) FROM gone)
    ELSE (SELECT count(*) FROM gone) END, EXISTS (
    SELECT 1 FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory'
    AND classid = 0 AND objid = {ERASE_LOCK} AND objsubid = 1 AND mode = 'ExclusiveLock'
    AND granted);
  RETURN NULL;
END $$;
CREATE TRIGGER observe_drain AFTER DELETE ON overview_changes
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION observe_drain();
CREATE TRIGGER observe_drain AFTER DELETE ON overview_change_refs
  REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION observe_drain();
"""
_UNOBSERVE = (
    "DROP TRIGGER IF EXISTS observe_drain ON overview_changes;"
    " DROP TRIGGER IF EXISTS observe_drain ON overview_change_refs;"
    " DROP FUNCTION IF EXISTS observe_drain(); DROP TABLE IF EXISTS drain_observed;"
)


@pytest.fixture
def observed(
    pg: psycopg.Connection[Any], monkeypatch: pytest.MonkeyPatch
) -> Iterator[psycopg.Connection[Any]]:
    """``pg`` with every drain of pending changes noted, drains of :data:`CHUNK`."""
    monkeypatch.setattr(overview_drainer, "DRAIN_ROWS", CHUNK)
    pg.execute(_UNOBSERVE + _OBSERVE)  # type: ignore[arg-type]
    pg.commit()
    try:
        yield pg
    finally:
        pg.rollback()
        pg.execute(_UNOBSERVE)
        pg.commit()


def _drains(pg: psycopg.Connection[Any]) -> list[tuple[int, bool]]:
    """Each drain, in order: the changes it took (both kinds) and whether it held the
    erasure lock exclusively."""
    rows = pg.execute(
        "SELECT sum(taken), bool_or(exclusive) FROM drain_observed GROUP BY tx ORDER BY min(n)"
    ).fetchall()
    pg.execute("DELETE FROM drain_observed")
    pg.commit()
    return [(int(n), bool(x)) for n, x in rows if n]


def _largest_reference(pg: psycopg.Connection[Any]) -> int:
    """The most visits one pending reference names (a drain takes it whole)."""
    row = pg.execute("SELECT coalesce(max(visits), 0) FROM overview_change_refs").fetchone()
    pg.commit()
    return int(row[0]) if row else 0


def _held(pg: psycopg.Connection[Any], user: str) -> int:
    """Rows of ``user`` in the rollups, the pending changes and ``page_visits``."""
    tables = ("overview_days", "overview_domains", "overview_pages_monthly", "page_titles")
    count = 0
    for table in (*tables, "overview_changes", "page_visits"):
        row = pg.execute(f"SELECT count(*) FROM {table} WHERE user_id = %s", (user,)).fetchone()  # type: ignore[arg-type]
        count += int(row[0]) if row else 0
    pg.commit()
    return count


def _visits(pg: psycopg.Connection[Any], where: str, *params: str) -> int:
    row = pg.execute(f"SELECT count(*) FROM page_visits WHERE {where}", params).fetchone()  # type: ignore[arg-type]
    pg.commit()
    return int(row[0]) if row else 0


async def test_a_session_erasure_drains_the_backlog_in_chunks_and_folds_go_on(
    settings: Settings,
    aredis: aioredis.Redis,
    observed: psycopg.Connection[Any],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A session deleted behind a backlog of pending changes: the backlog is drained in
    transactions of at most :data:`CHUNK` changes without the exclusive lock; a fold of
    another user commits after that and before the erasure; under the exclusive lock the
    erasure drains exactly what that fold added; the session is gone from everything."""
    pg = observed
    log = synth_log(61, users=3, sessions_per_user=9, visits_per_session=10)
    await write_log(aredis, settings, log)
    await _fold_only(settings, aredis, pg, entries_per_read=1)
    backlog, bound = pending(pg).changes, CHUNK + _largest_reference(pg)
    assert backlog > 4 * CHUNK and _drains(pg) == []
    user = user_ids(61, 3)[0]
    session = pg.execute(
        "SELECT session_id::text FROM sessions WHERE user_id = %s ORDER BY 1 LIMIT 1", (user,)
    ).fetchone()
    pg.commit()
    assert session and _visits(pg, "session_id = %s", session[0]) > 0
    event = SessionErased(user_id=user, session_id=session[0], ts=1, reason="test")
    part = partition_for(user, settings.partitions)
    await streams.append(
        aredis, stream_key(settings.key_prefix, SESSIONS_TOPIC, part),
        encode_derived_entry(DerivedEntry(events=[event])), key=user.encode(), timestamp_ms=1,
    )  # fmt: skip
    loop = asyncio.get_running_loop()
    late = list(synth_log(62, users=1, sessions_per_user=1, visits_per_session=7))
    ahead = getattr(consumer_module, "drain_ahead", None)

    async def another_fold() -> None:  # another user's visits, while the erasure waits
        await write_log(aredis, settings, late)
        with psycopg.connect(database_url) as other:
            folder = ProjectionConsumer(settings, aredis, other, projections=("visits",))
            await folder.load()
            while await folder.turn(block_ms=None):
                pass

    def drain_then_fold(conn: psycopg.Connection[Any]) -> int:
        drained = ahead(conn) if ahead else 0
        asyncio.run_coroutine_threadsafe(another_fold(), loop).result(60)
        return drained

    monkeypatch.setattr(consumer_module, "drain_ahead", drain_then_fold, raising=False)
    await _fold_only(settings, aredis, pg)  # the erasure
    drains = _drains(pg)
    arrived = _visits(pg, "user_id = %s", user_ids(62, 1)[0])  # all new: one change each
    assert arrived > 0 and [n for n, exclusive in drains if exclusive] == [arrived], drains
    shared = [n for n, exclusive in drains if not exclusive]
    assert sum(shared) == backlog and max(shared) <= bound and len(shared) > 3, drains
    assert pending(pg).changes == 0
    assert _visits(pg, "session_id = %s", session[0]) == 0
    _check(pg)


async def test_a_user_erasure_drains_the_backlog_before_its_lock(
    settings: Settings, aredis: aioredis.Redis, observed: psycopg.Connection[Any]
) -> None:
    """``mindhit erase`` behind a backlog: drained in chunks first, nothing under the
    exclusive lock (nothing arrived meanwhile), and nothing of the user left."""
    pg = observed
    log = synth_log(63, users=3, sessions_per_user=6, visits_per_session=10)
    await write_log(aredis, settings, log)
    await _fold_only(settings, aredis, pg, entries_per_read=1)
    backlog, bound = pending(pg).changes, CHUNK + _largest_reference(pg)
    gone = user_ids(63, 3)[1]
    assert backlog > 4 * CHUNK and _held(pg, gone) > 0
    await erase_user(settings, aredis, pg, gone, clock=system_clock)
    drains = _drains(pg)
    assert [n for n, exclusive in drains if exclusive] == [], drains
    assert sum(n for n, _ in drains) == backlog and max(n for n, _ in drains) <= bound
    assert _held(pg, gone) == 0
    _check(pg)
