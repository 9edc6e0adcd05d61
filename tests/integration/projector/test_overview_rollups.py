"""The overview's daily rollups always equal an aggregate of the read tables they sum,
whatever duplicates, redelivery, erasure or replay happened on the way."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.settings import Settings
from projector.replay import replay
from projector.synthetic import synth_log, user_ids, write_log
from schema.derived import UserErased, VisitClosed
from schema.ids import deterministic_id
from schema.log import DerivedEntry, encode_derived_entry
from schema.topics import SESSIONS_TOPIC, VISITS_TOPIC, partition_for, stream_key

from .conftest import fold_all, snapshot
from .test_archive_replay import archive_all

pytestmark = pytest.mark.integration

_EXPECTED = {
    "overview_days": (
        "SELECT user_id, (start_at AT TIME ZONE 'UTC')::date AS day, sum(dwell_ms), count(*)"
        " FROM page_visits GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT user_id, day, dwell_ms, visits FROM overview_days ORDER BY 1, 2",
    ),
    "overview_domains": (
        "SELECT user_id, (start_at AT TIME ZONE 'UTC')::date, domain, sum(dwell_ms), count(*)"
        " FROM page_visits GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        "SELECT user_id, day, domain, dwell_ms, visits FROM overview_domains ORDER BY 1, 2, 3",
    ),
    "overview_pages_monthly": (
        "SELECT user_id, date_trunc('month', start_at AT TIME ZONE 'UTC')::date, url_hash,"
        " content_hash, sum(dwell_ms), count(*) FROM page_visits GROUP BY 1, 2, 3, 4"
        " ORDER BY 1, 2, 3, 4",
        "SELECT user_id, month, url_hash, content_hash, dwell_ms, visits"
        " FROM overview_pages_monthly ORDER BY 1, 2, 3, 4",
    ),
    "overview_domains_monthly": (
        "SELECT user_id, date_trunc('month', start_at AT TIME ZONE 'UTC')::date, domain,"
        " sum(dwell_ms), count(*) FROM page_visits GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        "SELECT user_id, month, domain, dwell_ms, visits FROM overview_domains_monthly"
        " ORDER BY 1, 2, 3",
    ),
    "page_titles": (
        "SELECT user_id, url_hash, content_hash, title, count(*),"
        " setweight(to_tsvector('english', title), 'A') FROM page_visits GROUP BY 1, 2, 3, 4"
        " ORDER BY 1, 2, 3, 4",
        "SELECT user_id, url_hash, content_hash, title, visits, search FROM page_titles"
        " ORDER BY 1, 2, 3, 4",
    ),
    "overview_branches": (
        "SELECT m.user_id, m.session_id, count(*) FROM mindmap_graphs m,"
        " jsonb_array_elements(coalesce(m.graph -> 'children', '[]')) GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT user_id, session_id, count(*) FROM overview_branches GROUP BY 1, 2 ORDER BY 1, 2",
    ),
}


def _check(pg: psycopg.Connection[Any]) -> None:
    for table, (truth, rollup) in _EXPECTED.items():
        assert pg.execute(rollup).fetchall() == pg.execute(truth).fetchall(), table  # type: ignore[arg-type]
    pg.commit()


async def test_rollups_equal_the_aggregates_through_duplicates_erasure_and_replay(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    log = list(synth_log(41, users=3, sessions_per_user=3, visits_per_session=7))
    await write_log(aredis, settings, log)
    await fold_all(settings, aredis, pg)
    _check(pg)
    days = pg.execute("SELECT count(*) FROM overview_days").fetchone()
    branches = pg.execute("SELECT count(*), sum(dwell_ms) FROM overview_branches").fetchone()
    pg.commit()
    assert days and days[0] >= 3 and branches and branches[0] > 0 and branches[1] > 0
    # The whole log again (every event redelivered): nothing counts twice.
    before = snapshot(pg)
    await write_log(aredis, settings, log)
    await fold_all(settings, aredis, pg)
    assert snapshot(pg) == before
    # A user erased (the cut is the erasure's server time, after all they sent, as the
    # dashboard's "erase all my data" does): the rollups follow what is left.
    gone = user_ids(41, 3)[0]
    cut = max(item.ts for item in log if item.key == gone) + 1
    event = UserErased(user_id=gone, ts=cut, reason="test")
    await streams.append(
        aredis,
        stream_key(settings.key_prefix, SESSIONS_TOPIC, partition_for(gone, settings.partitions)),
        encode_derived_entry(DerivedEntry(events=[event])),
        key=gone.encode(),
        timestamp_ms=cut,
    )
    await fold_all(settings, aredis, pg)
    _check(pg)
    left = pg.execute("SELECT count(*) FROM overview_days WHERE user_id = %s", (gone,)).fetchone()
    pg.commit()
    assert left == (0,)
    await archive_all(settings, aredis, pg)
    rollups = (
        "overview_days",
        "overview_domains",
        "overview_domains_monthly",
        "overview_pages_monthly",
        "page_titles",
    )
    after_erasure = {t: snapshot(pg)[t] for t in rollups}
    # Replay rebuilds them from the archive alike (maps of a partly erased user follow
    # the erasure's own rules, so the branches are checked against the maps).
    assert (await replay(settings, aredis, pg)).swapped
    assert {t: snapshot(pg)[t] for t in rollups} == after_erasure
    _check(pg)


async def test_a_rewritten_visit_moves_its_share_and_leaves_no_empty_rollup_row(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """A later version of a visit (a late upload made it longer and gave it a text, or
    another title) takes the earlier one's share out of the rollups it was in and adds its
    own, in the same batch as a new visit or in a batch of its own; an identical
    redelivery adds nothing."""
    user, session = deterministic_id("u", 1), deterministic_id("s", 1)
    day = 1_764_000_000_000

    def visit(n: int, dwell: int, content: str = "", title: str = "t") -> VisitClosed:
        return VisitClosed(
            user_id=user, visit_id=deterministic_id("v", n), client_id="c", session_id=session,
            tab_id=1, url=f"https://example.org/{n}", url_hash=f"h{n}", domain="example.org",
            title=title, start_ts=day + n, end_ts=day + n + dwell, dwell_ms=dwell, opened_seq=n,
            content_hash=content,
        )  # fmt: skip

    stream = stream_key(settings.key_prefix, VISITS_TOPIC, partition_for(user, settings.partitions))
    for events in (
        [visit(1, 1000), visit(2, 2000)],
        [visit(1, 5000, "c1"), visit(3, 700)],  # a rewrite beside a new visit
        [visit(1, 5000, "c1")],  # identical again
        [visit(2, 2500, "c2")],  # a rewrite alone
        [visit(3, 700, title="Retitled")],  # a rewrite with another title
    ):
        await streams.append(
            aredis, stream, encode_derived_entry(DerivedEntry(events=events)),  # type: ignore[arg-type]
            key=user.encode(), timestamp_ms=day,
        )  # fmt: skip
        await fold_all(settings, aredis, pg)
        _check(pg)
    pages = pg.execute(
        "SELECT url_hash, content_hash, dwell_ms, visits FROM overview_pages_monthly ORDER BY 1"
    ).fetchall()
    pg.commit()
    assert pages == [("h1", "c1", 5000, 1), ("h2", "c2", 2500, 1), ("h3", "", 700, 1)]
    titles = pg.execute(
        "SELECT url_hash, content_hash, title, visits FROM page_titles ORDER BY 1"
    ).fetchall()
    pg.commit()
    assert titles == [("h1", "c1", "t", 1), ("h2", "c2", "t", 1), ("h3", "", "Retitled", 1)]


async def test_a_title_row_stored_while_the_batch_runs_still_counts_the_batch_once(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any], database_url: str
) -> None:
    """A new title is inserted without ON CONFLICT (a user's rows have one writer: the
    drainer, live). Should a row of it be stored after the drain's statement looked (here:
    another transaction's insert, committed while the drain waits on it), the batch's
    changes still drain: its visit is added to that row, which keeps its own vector, and
    the other rollups count it once."""
    user, session = deterministic_id("u", 7), deterministic_id("s", 7)
    day = 1_764_000_000_000
    event = VisitClosed(
        user_id=user, visit_id=deterministic_id("v", 70), client_id="c", session_id=session,
        tab_id=1, url="https://example.org/70", url_hash="h70", domain="example.org",
        title="Seventy pages", start_ts=day, end_ts=day + 900, dwell_ms=900, opened_seq=1,
    )  # fmt: skip
    stream = stream_key(settings.key_prefix, VISITS_TOPIC, partition_for(user, settings.partitions))
    await streams.append(
        aredis, stream, encode_derived_entry(DerivedEntry(events=[event])),
        key=user.encode(), timestamp_ms=day,
    )  # fmt: skip
    with psycopg.connect(database_url) as other:
        other.execute(
            "INSERT INTO page_titles (user_id, url_hash, content_hash, title, visits, search)"
            " VALUES (%s, 'h70', '', 'Seventy pages', 4, 'kept'::tsvector)",
            (user,),
        )
        folding = asyncio.create_task(fold_all(settings, aredis, pg))
        for _ in range(100):  # until the drain's insert waits for the other transaction
            waiting = other.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND wait_event = 'transactionid'"
            ).fetchone()
            if waiting and waiting[0]:
                break
            await asyncio.sleep(0.05)
        assert waiting and waiting[0], "the drain never waited on the other insert"
        other.commit()
        await folding
    titles = pg.execute(
        "SELECT title, visits, search::text FROM page_titles WHERE user_id = %s", (user,)
    ).fetchall()
    days = pg.execute(
        "SELECT dwell_ms, visits FROM overview_days WHERE user_id = %s", (user,)
    ).fetchall()
    pages = pg.execute(
        "SELECT dwell_ms, visits FROM overview_pages_monthly WHERE user_id = %s", (user,)
    ).fetchall()
    pg.commit()
    assert titles == [("Seventy pages", 5, "'kept'")]
    assert days == [(900, 1)] and pages == [(900, 1)]
