"""The live projection: the log becomes dashboard rows, exactly once, fast to query."""

from __future__ import annotations

from functools import partial
from typing import Any, cast

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.settings import Settings
from projector.consumer import ProjectionConsumer
from projector.overview_drainer import drain_all
from projector.synthetic import LogItem, streams_key, synth_log, user_ids, write_log
from tests.support.racing import WritesWhileAsked

from .conftest import clear_read_tables, fold_all, snapshot

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


async def test_log_becomes_dashboard_rows(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    await write_log(
        aredis, settings, synth_log(1, users=5, sessions_per_user=3, visits_per_session=12)
    )
    await fold_all(settings, aredis, pg)
    sessions = pg.execute(
        "SELECT status, label, page_count, active_ms > 0, started_at < stopped_at,"
        " last_event_at = stopped_at FROM sessions"
    ).fetchall()
    assert len(sessions) == 15
    assert {s[0] for s in sessions} == {"completed"}
    assert all(s[2] == 12 and s[3] and s[4] and s[5] for s in sessions)
    assert pg.execute("SELECT count(*) FROM page_visits").fetchone() == (5 * 3 * 12,)
    assert pg.execute("SELECT count(*) FROM mindmap_graphs").fetchone() == (15,)
    user = user_ids(1, 5)[0]
    # One session's timeline, in order.
    timeline = pg.execute(
        "SELECT v.start_at, v.dwell_ms FROM page_visits v JOIN sessions s USING (session_id)"
        " WHERE s.user_id = %s AND s.label = 's1' ORDER BY v.start_at",
        (user,),
    ).fetchall()
    assert len(timeline) == 12 and timeline == sorted(timeline)
    # Search what I read: page text and AI summaries, scoped to my visits.
    hits = pg.execute(
        "SELECT DISTINCT u.url FROM websearch_to_tsquery('english', 'river') q, page_visits v"
        " JOIN urls u ON u.url_hash = v.url_hash AND u.content_hash = v.content_hash"
        " LEFT JOIN page_texts t ON t.content_hash = v.content_hash"
        " WHERE v.user_id = %s AND (u.search @@ q OR t.search @@ q)",
        (user,),
    ).fetchall()
    assert hits, "full-text search over page text finds stemmed words"
    summary = pg.execute(
        "SELECT summary, tags, topic FROM urls WHERE summary <> '' LIMIT 1"
    ).fetchone()
    assert summary is not None and summary[1] and summary[2].startswith("topic")
    pg.commit()


async def test_redelivery_is_a_no_op(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    await write_log(
        aredis, settings, synth_log(2, users=4, sessions_per_user=2, visits_per_session=10)
    )
    await fold_all(settings, aredis, pg)
    once = snapshot(pg)
    # Lose every checkpoint: the whole log is delivered a second time.
    pg.execute("DELETE FROM projection_checkpoints")
    pg.commit()
    await fold_all(settings, aredis, pg)
    assert snapshot(pg) == once


async def test_one_entry_per_transaction_equals_big_batches(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    await write_log(
        aredis, settings, synth_log(3, users=3, sessions_per_user=3, visits_per_session=8)
    )
    await fold_all(settings, aredis, pg)
    batched = snapshot(pg)
    clear_read_tables(pg)
    consumer = ProjectionConsumer(settings, aredis, pg, entries_per_read=1)
    await consumer.load()
    while await consumer.turn(block_ms=None):
        pass
    drain_all(pg, limit=10)  # the overview's changes of every one-entry batch, drained
    assert snapshot(pg) == batched


async def test_a_log_created_while_the_projector_starts_is_folded_whole(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """Every stream gets its first entries just as the starting projector asks where it
    begins (a fresh deployment's first uploads, a replica reloading after another wrote):
    none of them may be taken for entries trimmed before they were archived."""
    items = list(synth_log(4, users=4, sessions_per_user=2, visits_per_session=6))
    by_stream: dict[str, list[LogItem]] = {}
    for item in items:
        by_stream.setdefault(streams_key(settings, item.topic, item.key), []).append(item)
    writes = {
        stream: partial(write_log, aredis, settings, chunk) for stream, chunk in by_stream.items()
    }
    racing = cast(aioredis.Redis, WritesWhileAsked(aredis, writes))
    consumer = ProjectionConsumer(settings, racing, pg)
    await consumer.load()
    while await consumer.turn(block_ms=None):
        pass
    assert not any((await consumer.lag()).values())
    # Each session as the user started it (label from its first raw entry), all its visits.
    sessions = pg.execute("SELECT label, status, page_count FROM sessions").fetchall()
    pg.commit()
    assert sorted(sessions) == sorted([(f"s{s}", "completed", 6) for s in range(2)] * 4)
    assert pg.execute("SELECT count(*) FROM page_visits").fetchone() == (4 * 2 * 6,)
    pg.commit()
