"""The overview's rollups catch up behind the visits fold (issue 14): the fold leaves its
changes pending (a batch of new visits as a reference naming them, a rewrite as
per-visit rows in ``overview_changes``), the drainer folds them in. Rollups plus pending
changes always equal the aggregate of ``page_visits``; a drain that fails adds nothing;
an erasure drains first, so no pending change of what it erased is left to add back; a
replay's swap drops the pending changes its shadow rollups already hold."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.lag import collect_lag, render_text
from mindhit.settings import Settings
from projector.consumer import ProjectionConsumer
from projector.overview import drain_changes
from projector.overview_drainer import DRAIN_LOCK, Pending, drain_all, drain_once, pending
from projector.replay import replay
from projector.synthetic import synth_log, user_ids, write_log
from schema.derived import SessionErased, VisitClosed
from schema.ids import deterministic_id
from schema.log import DerivedEntry, encode_derived_entry
from schema.topics import SESSIONS_TOPIC, VISITS_TOPIC, partition_for, stream_key

from .conftest import snapshot
from .test_archive_replay import archive_all
from .test_overview_rollups import _check

pytestmark = pytest.mark.integration

ROLLUPS = (
    "overview_days",
    "overview_domains",
    "overview_domains_monthly",
    "overview_pages_monthly",
    "page_titles",
)


async def _fold_only(
    settings: Settings,
    redis: aioredis.Redis,
    pg: psycopg.Connection[Any],
    entries_per_read: int = 64,
) -> None:
    """Fold every stream to its highwater, leaving the overview's changes pending (a batch
    of new visits: one reference; ``entries_per_read=1``: small batches, many of them)."""
    consumer = ProjectionConsumer(settings, redis, pg, entries_per_read=entries_per_read)
    await consumer.load()
    while await consumer.turn(block_ms=None):
        pass


def _rows(pg: psycopg.Connection[Any], table: str) -> int:
    row = pg.execute(f"SELECT count(*) FROM {table}").fetchone()  # type: ignore[arg-type]
    pg.commit()
    return int(row[0]) if row else 0


def _sum_with_pending(pg: psycopg.Connection[Any]) -> list[Any]:
    """Per user and day: the rollup's visits plus both kinds of pending change (the
    references resolved against ``page_visits`` now) equal ``page_visits``' own sums."""
    rows = pg.execute(
        "SELECT user_id, day, sum(visits), sum(dwell_ms) FROM ("
        " SELECT user_id, day, visits, dwell_ms FROM overview_days"
        " UNION ALL SELECT user_id, day, visits, dwell_ms FROM overview_changes"
        " UNION ALL SELECT v.user_id, (v.start_at AT TIME ZONE 'UTC')::date, 1, v.dwell_ms"
        "  FROM overview_change_refs r CROSS JOIN LATERAL unnest(r.visit_ids) x(id)"
        "  JOIN page_visits v ON v.visit_id = x.id) s"
        " GROUP BY 1, 2 HAVING sum(visits) <> 0 ORDER BY 1, 2"
    ).fetchall()
    truth = pg.execute(
        "SELECT user_id, (start_at AT TIME ZONE 'UTC')::date, count(*), sum(dwell_ms)"
        " FROM page_visits GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    pg.commit()
    assert rows == truth
    return rows


async def test_the_fold_leaves_changes_pending_and_the_drain_adds_each_once(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any], database_url: str
) -> None:
    log = list(synth_log(51, users=3, sessions_per_user=2, visits_per_session=6))
    await write_log(aredis, settings, log)
    await _fold_only(settings, aredis, pg, entries_per_read=1)  # several references
    visits = _rows(pg, "page_visits")
    assert visits > 0 and _rows(pg, "overview_changes") == 0  # new visits: references
    assert all(_rows(pg, t) == 0 for t in ROLLUPS)
    assert pending(pg).changes == visits
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        report = await collect_lag(aredis, settings.key_prefix, settings.partitions, conn)
    assert report.overview is not None and report.overview.pending_changes == visits
    assert "overview rollups: " + str(visits) in render_text(report)
    _sum_with_pending(pg)
    # A drain that fails after moving the changes (here: rolled back) loses none of them.
    with pytest.raises(RuntimeError), pg.transaction():
        assert drain_changes(pg, limit=5) >= 5  # whole references
        raise RuntimeError("crash before commit")
    assert pending(pg).changes == visits
    # Drained in bounded transactions: every change once, none left.
    first = drain_once(pg, limit=5)
    assert first is not None and 5 <= first < visits
    _sum_with_pending(pg)
    assert drain_all(pg, limit=7) == visits - first
    assert pending(pg).changes == 0
    _check(pg)
    # Redelivery of the whole log: the fold writes no change at all, the rollups stay.
    before = snapshot(pg)
    await write_log(aredis, settings, log)
    await _fold_only(settings, aredis, pg)
    assert pending(pg).changes == 0
    assert snapshot(pg) == before


async def test_a_second_drainer_waits_its_turn(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any], database_url: str
) -> None:
    """Drains run one at a time: while one holds the drain lock another drains nothing."""
    await write_log(
        aredis, settings, synth_log(52, users=2, sessions_per_user=1, visits_per_session=4)
    )
    await _fold_only(settings, aredis, pg)
    with psycopg.connect(database_url) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (DRAIN_LOCK,))
        assert drain_once(pg) is None
        other.execute("SELECT pg_advisory_unlock(%s)", (DRAIN_LOCK,))
    assert drain_once(pg) == _rows(pg, "page_visits")
    _check(pg)


async def test_an_erasure_leaves_no_pending_change_of_what_it_erased(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """A session deleted while its visits' changes are still pending: the erasure drains
    them first and takes the session's whole share out; nothing of it stays pending or
    comes back; a replay afterwards rebuilds the same rollups and drops what is pending."""
    log = list(synth_log(53, users=2, sessions_per_user=3, visits_per_session=5))
    await write_log(aredis, settings, log)
    await _fold_only(settings, aredis, pg)
    user = user_ids(53, 2)[0]
    doomed = pg.execute(
        "SELECT session_id::text FROM sessions WHERE user_id = %s ORDER BY 1 LIMIT 1", (user,)
    ).fetchone()
    pg.commit()
    assert doomed
    event = SessionErased(user_id=user, session_id=doomed[0], ts=1, reason="test")
    await streams.append(
        aredis,
        stream_key(settings.key_prefix, SESSIONS_TOPIC, partition_for(user, settings.partitions)),
        encode_derived_entry(DerivedEntry(events=[event])),
        key=user.encode(),
        timestamp_ms=1,
    )
    await _fold_only(settings, aredis, pg)  # the erasure, with every change still pending
    assert pending(pg).changes == 0
    left = pg.execute(
        "SELECT count(*) FROM page_visits WHERE session_id = %s", (doomed[0],)
    ).fetchone()
    pg.commit()
    assert left == (0,)
    _check(pg)
    # Later visits are pending again; a replay's swap drops them with its rebuilt rollups.
    await write_log(
        aredis, settings, synth_log(54, users=1, sessions_per_user=1, visits_per_session=4)
    )
    await _fold_only(settings, aredis, pg)
    assert pending(pg).changes > 0
    await archive_all(settings, aredis, pg)
    assert (await replay(settings, aredis, pg)).swapped
    assert pending(pg).changes == 0
    _check(pg)


DAY = 1_764_000_000_000


def _visit(who: str, n: int, dwell: int, title: str = "t") -> VisitClosed:
    return VisitClosed(
        user_id=who, visit_id=deterministic_id("v", n), client_id="c",
        session_id=deterministic_id("s", 7), tab_id=1, url=f"https://example.org/{n}",
        url_hash=f"h{n}", domain="example.org", title=title, start_ts=DAY + n,
        end_ts=DAY + n + dwell, dwell_ms=dwell, opened_seq=n,
    )  # fmt: skip


async def _send(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any], events: list[Any]
) -> None:
    """Append one visits entry of ``events`` (one user's) and fold it."""
    who = events[0].user_id
    part = partition_for(who, settings.partitions)
    await streams.append(
        aredis, stream_key(settings.key_prefix, VISITS_TOPIC, part),
        encode_derived_entry(DerivedEntry(events=events)), key=who.encode(), timestamp_ms=DAY,
    )  # fmt: skip
    await _fold_only(settings, aredis, pg)


async def test_a_bounded_drain_never_takes_a_rewrite_before_the_change_it_cancels(
    settings: Settings,
    aredis: aioredis.Redis,
    pg: psycopg.Connection[Any],
    database_url: str,
) -> None:
    """A bounded drain takes the oldest pending changes first, whatever their place in the
    table: once earlier drains and VACUUM freed its first pages, a later batch's rows (a
    rewritten visit: its stored version taken out, -1) land before an earlier batch's
    (that version added, +1). Taken in table order, the -1 was drained first: the day's
    row dropped at zero visits with the new dwell, then came back with the old one."""
    user, other = deterministic_id("u", 7), deterministic_id("u", 8)
    await _send(settings, aredis, pg, [_visit(other, 1000 + n, 100) for n in range(400)])
    # rewritten: 1,200 per-visit rows (the reference resolved, then -1 and +1 each)
    await _send(settings, aredis, pg, [_visit(other, 1000 + n, 101) for n in range(400)])
    # an upsert (one rewrite) writes the user's new visit as a row: +1 after those pages
    await _send(settings, aredis, pg, [_visit(other, 1000, 102), _visit(user, 1, 1000)])
    assert drain_once(pg, limit=1200) == 1200
    with psycopg.connect(database_url, autocommit=True) as vacuum:
        vacuum.execute("VACUUM overview_changes")  # the first pages free again
    await _send(settings, aredis, pg, [_visit(user, 1, 5000, title="Retitled")])  # -1, +1
    rows = pg.execute(
        "SELECT visits, seq FROM overview_changes WHERE user_id = %s", (user,)
    ).fetchall()
    pg.commit()
    assert sorted(v for v, _ in rows) == [-1, 1, 1]
    assert rows[-1][1] < min(n for _, n in rows[:-1])  # the first change stored last
    while drain_once(pg, limit=2):
        _sum_with_pending(pg)
    _check(pg)


async def test_a_bounded_drain_takes_changes_in_write_order_whatever_the_clock(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """PostgreSQL's clock stepped back an hour between two folds (NTP, a failover to a
    standby with another clock): the rewrite's -1 and +1 are dated before the +1 the -1
    cancels. Taken by ``changed_at``, the -1 went first and the day's row came back with
    the old dwell for good; taken by ``seq`` (the order the changes were written), the
    +1 goes first and every drain leaves rollups + pending equal to ``page_visits``."""
    user = deterministic_id("u", 9)
    await _send(settings, aredis, pg, [_visit(user, 1, 1000)])  # +1
    await _send(settings, aredis, pg, [_visit(user, 1, 5000, title="Retitled")])  # -1, +1
    stepped_back = pg.execute(
        "UPDATE overview_changes SET changed_at = changed_at - interval '1 hour'"
        " WHERE visits < 0 OR title = 'Retitled'"  # as now() would have dated them
    ).rowcount
    pg.commit()
    assert stepped_back == 2
    while drain_once(pg, limit=2):
        _sum_with_pending(pg)
    _check(pg)
    day = pg.execute("SELECT visits, dwell_ms FROM overview_days WHERE user_id = %s", (user,))
    assert day.fetchall() == [(1, 5000)]
    pg.commit()


class _Counting:
    """A connection whose commit first notes the heap rows this transaction scanned in
    ``overview_changes`` (``pg_stat_xact_user_tables``)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self.scanned = -1

    def execute(self, *args: Any) -> Any:
        return self.conn.execute(*args)

    def commit(self) -> None:
        row = self.conn.execute(
            "SELECT coalesce(sum(seq_tup_read), 0) FROM pg_stat_xact_user_tables"
            " WHERE relname = 'overview_changes'"
        ).fetchone()
        self.scanned = int(row[0]) if row else -1
        self.conn.commit()


def test_the_lag_is_read_from_a_bounded_part_of_the_pending_changes(
    pg: psycopg.Connection[Any],
) -> None:
    """``pending`` runs after every drain (every 0.5 s, every replica), for ``mindhit lag``
    and the ops page: it counted every pending change. It reads at most 50,001 now:
    exact up to 50,000, above that the span of the changes' numbers."""
    pg.execute(
        "INSERT INTO overview_changes"
        " (user_id, day, domain, url_hash, content_hash, title, dwell_ms, visits)"
        " SELECT gen_random_uuid(), current_date, 'd', 'h' || n, 'c', 't', 1, 1"
        " FROM generate_series(1, 80000) n"
    )
    pg.commit()
    counting = _Counting(pg)
    lag = pending(counting)  # type: ignore[arg-type]
    assert lag.changes == 80_000 and 0 <= counting.scanned <= 50_001 and lag.oldest_s >= 0
    pg.execute(
        "DELETE FROM overview_changes WHERE seq < (SELECT min(seq) + 79990 FROM overview_changes)"
    )
    pg.execute("DELETE FROM overview_changes WHERE seq % 2 = 0")  # gaps: counted exactly
    pg.commit()
    assert pending(pg).changes == 5
    pg.execute("DELETE FROM overview_changes")
    pg.commit()
    assert pending(pg) == Pending(0, 0.0)
