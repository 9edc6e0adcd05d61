"""The overview's change rows by reference (issue 14): a batch's new visits pending as
one row naming them (``overview_change_refs``), resolved against ``page_visits`` when
drained. Every reader takes both kinds: mixed with per-visit rows (a rewrite's) they
drain to rollups equal to the aggregate of ``page_visits``; a visit rewritten while a
reference naming it is pending ends right (also with a drain taking that reference at
the same moment); erasures and a replay's swap leave none behind; the lag counts them."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.lag import collect_lag
from mindhit.settings import Settings
from projector.overview import drain_changes
from projector.overview_drainer import drain_all, drain_once, pending
from projector.replay import replay
from projector.synthetic import synth_log, user_ids, write_log
from schema.derived import SessionErased
from schema.ids import deterministic_id
from schema.log import DerivedEntry, encode_derived_entry
from schema.topics import SESSIONS_TOPIC, partition_for, stream_key

from .test_archive_replay import archive_all
from .test_overview_drain import _fold_only, _rows, _send, _sum_with_pending, _visit
from .test_overview_rollups import _check

pytestmark = pytest.mark.integration


async def test_per_visit_rows_and_references_drain_to_the_aggregate_of_page_visits(
    settings: Settings,
    aredis: aioredis.Redis,
    pg: psycopg.Connection[Any],
    database_url: str,
) -> None:
    """A rewrite's per-visit rows and batches of new visits (references) pend side by
    side; the lag counts every change of both, bounded drains keep rollups + pending
    equal to ``page_visits``, and the drain leaves the rollups so."""
    user = deterministic_id("u", 30)
    await _send(settings, aredis, pg, [_visit(user, n, 1000) for n in range(1, 4)])
    await _send(settings, aredis, pg, [_visit(user, 2, 5000, title="Retitled")])
    per_visit = _rows(pg, "overview_changes")  # the reference resolved, then -1 and +1
    await write_log(
        aredis, settings, synth_log(62, users=2, sessions_per_user=2, visits_per_session=6)
    )
    await _fold_only(settings, aredis, pg)  # one reference per batch
    named = pg.execute("SELECT sum(visits) FROM overview_change_refs").fetchone()
    pg.commit()
    assert per_visit == 5 and named and named[0] == _rows(pg, "page_visits") - 3
    assert _rows(pg, "overview_days") == 0
    visits = per_visit + named[0]  # every pending change
    assert pending(pg).changes == visits
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        report = await collect_lag(aredis, settings.key_prefix, settings.partitions, conn)
    assert report.overview is not None and report.overview.pending_changes == visits
    _sum_with_pending(pg)
    # A drain that fails after taking references (rolled back) loses none of them.
    with pytest.raises(RuntimeError), pg.transaction():
        assert drain_changes(pg) == visits
        raise RuntimeError("crash before commit")
    assert pending(pg).changes == visits
    while drain_once(pg, limit=per_visit // 3 + 1):
        _sum_with_pending(pg)
    assert _rows(pg, "overview_changes") == 0 and _rows(pg, "overview_change_refs") == 0
    _check(pg)


async def test_a_visit_rewritten_while_its_reference_is_pending_counts_its_new_version_once(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """A reference adds the version stored when it is drained; the upsert rewriting one
    of its visits writes -1 of the stored version and +1 of the new. Left pending, the
    reference would add the new version a second time: the upsert turns it into
    per-visit rows of the versions stored before it, numbered before its -1."""
    user = deterministic_id("u", 31)
    await _send(settings, aredis, pg, [_visit(user, n, 1000) for n in range(1, 4)])
    assert _rows(pg, "overview_change_refs") == 1 and _rows(pg, "overview_changes") == 0
    await _send(settings, aredis, pg, [_visit(user, 2, 5000, title="Retitled")])  # rewrite
    assert _rows(pg, "overview_change_refs") == 0
    changes = pg.execute("SELECT visits, dwell_ms FROM overview_changes ORDER BY seq").fetchall()
    pg.commit()
    # the stored versions first (numbered before the upsert's rows), then the upsert's
    assert changes[:3] == [(1, 1000)] * 3 and sorted(changes[3:]) == [(-1, -1000), (1, 5000)]
    _sum_with_pending(pg)
    while drain_once(pg, limit=1):
        _sum_with_pending(pg)
    _check(pg)
    day = pg.execute("SELECT visits, dwell_ms FROM overview_days WHERE user_id = %s", (user,))
    assert day.fetchall() == [(3, 7000)]
    pg.commit()


async def test_a_rewrite_waits_for_a_drain_taking_the_reference_that_names_its_visit(
    settings: Settings,
    aredis: aioredis.Redis,
    pg: psycopg.Connection[Any],
    database_url: str,
) -> None:
    """A drain has taken (deleted, resolved, not yet committed) the reference naming a
    visit when the fold rewrites that visit: the fold's guard waits for the drain's
    commit and then leaves the visit to the upsert's -1 and +1. Resolved from the
    snapshot it started with, it added the version the drain added too."""
    user = deterministic_id("u", 32)
    await _send(settings, aredis, pg, [_visit(user, n, 1000) for n in range(1, 3)])
    with psycopg.connect(database_url) as drain:
        drain.execute("SELECT 1")  # in a transaction from here
        assert drain_changes(drain) == 2  # the reference taken, not committed
        timer = threading.Timer(1.0, drain.commit)
        timer.start()
        started = time.monotonic()
        await _send(settings, aredis, pg, [_visit(user, 1, 5000, title="Retitled")])
        waited = time.monotonic() - started
        timer.join()
    assert waited >= 0.9
    _sum_with_pending(pg)
    assert drain_all(pg) == 2  # the -1 and the +1
    _check(pg)
    day = pg.execute("SELECT visits, dwell_ms FROM overview_days WHERE user_id = %s", (user,))
    assert day.fetchall() == [(2, 6000)]
    pg.commit()


async def test_an_erasure_leaves_no_reference_pending(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """An erasure drains the references before it takes a session's share out: none of
    its visits comes back, the rollups equal what is left."""
    await write_log(
        aredis, settings, synth_log(63, users=2, sessions_per_user=3, visits_per_session=5)
    )
    await _fold_only(settings, aredis, pg)
    assert _rows(pg, "overview_change_refs") > 0
    user = user_ids(63, 2)[0]
    doomed = pg.execute(
        "SELECT session_id::text FROM sessions WHERE user_id = %s ORDER BY 1 LIMIT 1", (user,)
    ).fetchone()
    pg.commit()
    assert doomed
    await streams.append(
        aredis,
        stream_key(settings.key_prefix, SESSIONS_TOPIC, partition_for(user, settings.partitions)),
        encode_derived_entry(
            DerivedEntry(events=[SessionErased(user_id=user, session_id=doomed[0], ts=1)])
        ),
        key=user.encode(),
        timestamp_ms=1,
    )
    await _fold_only(settings, aredis, pg)
    assert _rows(pg, "overview_change_refs") == 0
    _check(pg)


async def test_a_replays_swap_drops_the_references_its_rollups_hold(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """The swapped-in rollups sum the swapped-in visits: references pending against the
    old tables would add their visits a second time."""
    await write_log(
        aredis, settings, synth_log(64, users=2, sessions_per_user=2, visits_per_session=4)
    )
    await _fold_only(settings, aredis, pg)
    assert _rows(pg, "overview_change_refs") > 0
    await archive_all(settings, aredis, pg)
    assert (await replay(settings, aredis, pg)).swapped
    assert _rows(pg, "overview_change_refs") == 0
    _check(pg)
