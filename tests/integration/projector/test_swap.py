"""The swap: the live projector cannot commit while replay holds the write locks, and a
swap that finds the checkpoints moved since its catch-up changes nothing."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit import checkpoints
from mindhit.checkpoints import CheckpointMoved
from mindhit.settings import Settings
from projector import fencing
from projector.folds import Batch
from projector.pg import Writer, apply_batch, ensure_temp_tables, live_tables
from projector.projections import tables_of
from projector.shadow import create_shadows
from projector.swap import swap, write_locks
from projector.synthetic import synth_log, write_log

from .conftest import fold_all, snapshot

pytestmark = pytest.mark.integration

KEY = ("visits", "visits", 0)


def _commit_in_thread(
    database_url: str, done: list[float], *, grouped: bool = False
) -> threading.Thread:
    """A live writer of the visits projection moving its checkpoint by one (``grouped``:
    as a projector group's replica, fenced by its claim on partition 0)."""

    def run() -> None:
        with psycopg.connect(database_url) as conn:
            writer = Writer(tokens=fencing.claim(conn, [0], "replica")) if grouped else Writer()
            ensure_temp_tables(conn)
            stored = checkpoints.load(conn, ["visits"]).get(KEY, 0)
            conn.commit()
            apply_batch(
                conn,
                Batch(),
                tables=live_tables(),
                expected={KEY: stored},
                advance={KEY: stored + 1},
                writer=writer,
            )
            done.append(time.monotonic())

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize("grouped", [False, True], ids=["single", "group-replica"])
def test_the_live_projector_waits_while_replay_holds_the_write_locks(
    database_url: str, pg: psycopg.Connection[Any], grouped: bool
) -> None:
    done: list[float] = []
    with write_locks(pg, ("visits",)):
        writer = _commit_in_thread(database_url, done, grouped=grouped)
        writer.join(timeout=1.5)
        assert writer.is_alive() and not done  # blocked on the projection's write lock
        released = time.monotonic()
    writer.join(timeout=30)
    assert done and done[0] >= released
    assert checkpoints.load(pg, ["visits"])[KEY] == 1
    pg.commit()


async def test_a_swap_after_the_checkpoints_moved_changes_nothing(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any], database_url: str
) -> None:
    await write_log(
        aredis, settings, synth_log(3, users=2, sessions_per_user=1, visits_per_session=4)
    )
    await fold_all(settings, aredis, pg)
    before = snapshot(pg)
    create_shadows(pg, tables_of(("visits",)))  # page_visits and its rollups
    seen = checkpoints.load(pg, ["visits"])
    pg.commit()
    _commit_in_thread(database_url, []).join(timeout=30)  # moves a checkpoint meanwhile
    with pytest.raises(CheckpointMoved):
        await swap(pg, ("visits",), dict(seen), seen=seen)
    assert snapshot(pg) == before  # the empty shadow was not swapped in
    assert pg.execute("SELECT to_regclass('page_visits__shadow')").fetchone() != (None,)
    pg.rollback()


async def test_a_swap_stores_the_checkpoints_and_renames(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    await write_log(
        aredis, settings, synth_log(4, users=2, sessions_per_user=1, visits_per_session=4)
    )
    await fold_all(settings, aredis, pg)
    create_shadows(pg, tables_of(("visits",)))  # page_visits and its rollups
    seen = checkpoints.load(pg, ["visits"])
    pg.commit()
    advance = {key: offset + 5 for key, offset in seen.items()}
    with write_locks(pg, ("visits",)):
        outcome = await swap(pg, ("visits",), advance, seen=seen)
    assert outcome.swapped
    assert checkpoints.load(pg, ["visits"]) == advance
    assert pg.execute("SELECT count(*) FROM page_visits").fetchone() == (0,)  # the shadow
    assert pg.execute("SELECT to_regclass('page_visits__shadow')").fetchone() == (None,)
    pg.commit()
