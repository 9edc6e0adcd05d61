"""Dashboard queries stay fast as history grows: a user with 100,000 visits."""

from __future__ import annotations

import statistics
import time
from typing import Any

import psycopg
import pytest

from projector.consumer import fold_value
from projector.folds import Batch
from projector.pg import apply_batch, ensure_temp_tables, live_tables
from projector.synthetic import synth_log, user_ids

pytestmark = pytest.mark.integration

MONTH_VIEW = (
    "SELECT s.session_id, s.label, s.status, s.started_at, s.active_ms, s.page_count,"
    " (SELECT count(*) FROM page_visits v WHERE v.session_id = s.session_id) AS visits"
    " FROM sessions s WHERE s.user_id = %s"
    " AND s.started_at >= %s::timestamptz AND s.started_at < %s::timestamptz"
    " ORDER BY s.started_at DESC"
)
TIMELINE = (
    "SELECT url, title, start_at, end_at, dwell_ms FROM page_visits"
    " WHERE session_id = %s ORDER BY start_at"
)


def _timed(conn: psycopg.Connection[Any], query: str, params: tuple[Any, ...]) -> float:
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        rows = conn.execute(query, params).fetchall()
        runs.append(time.perf_counter() - started)
        assert rows
    return statistics.median(runs)


def test_month_view_and_timeline_of_a_user_with_100k_visits(pg: psycopg.Connection[Any]) -> None:
    ensure_temp_tables(pg)
    pg.commit()
    batch = Batch()
    for item in synth_log(60, users=1, sessions_per_user=2000, visits_per_session=50):
        if item.topic == "urls":
            continue  # page texts are not what these queries read
        fold_value(batch, item.topic, item.value)
        if len(batch.visits) >= 20_000:
            apply_batch(pg, batch, tables=live_tables(), expected={}, advance={})
            batch = Batch()
    apply_batch(pg, batch, tables=live_tables(), expected={}, advance={})
    pg.execute("ANALYZE sessions")
    pg.execute("ANALYZE page_visits")
    user = user_ids(60, 1)[0]
    assert pg.execute(
        "SELECT count(*) FROM page_visits WHERE user_id = %s", (user,)
    ).fetchone() == (100_000,)
    month = _timed(pg, MONTH_VIEW, (user, "2026-01-01", "2026-02-01"))
    session = pg.execute(
        "SELECT session_id FROM sessions WHERE user_id = %s ORDER BY started_at DESC LIMIT 1",
        (user,),
    ).fetchone()
    timeline = _timed(pg, TIMELINE, session)  # type: ignore[arg-type]
    plan = "\n".join(
        r[0] for r in pg.execute("EXPLAIN " + MONTH_VIEW, (user, "2026-01-01", "2026-02-01"))
    )
    pg.commit()
    assert "Seq Scan" not in plan, plan
    assert month < 0.100, f"month view took {month * 1000:.0f} ms"
    assert timeline < 0.100, f"timeline took {timeline * 1000:.0f} ms"
