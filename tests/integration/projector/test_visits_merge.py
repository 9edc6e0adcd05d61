"""New visits are inserted plainly into page_visits, stored ones merged by the upsert:
both paths leave the same rows and rollups (projector/visits_merge.py)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.settings import Settings
from projector.erase_session import drop_erased_sessions
from projector.pg import ensure_temp_tables
from projector.staging import copy_ops
from projector.tables import PAGE_VISITS
from schema.derived import VisitClosed
from schema.ids import deterministic_id
from schema.log import DerivedEntry, encode_derived_entry
from schema.topics import VISITS_TOPIC, partition_for, stream_key

from .conftest import clear_read_tables, fold_all
from .test_overview_rollups import _check

pytestmark = pytest.mark.integration

USER = deterministic_id("merge-user", 1)


def _visit(n: int, *, session: int = 1, start: int = 1_764_000_000_123) -> VisitClosed:
    return VisitClosed(
        user_id=USER, visit_id=deterministic_id("merge-visit", n), client_id="c",
        session_id=deterministic_id("merge-session", session), tab_id=n,
        url=f"https://example.org/{n}", url_hash=f"h{n % 3}", content_hash=f"c{n % 2}",
        domain=f"d{n % 2}.example", title=f"Title {n}", start_ts=start + n * 7,
        end_ts=start + n * 7 + 999, dwell_ms=999 + n, end_reason="switch", opened_seq=n,
    )  # fmt: skip


async def _fold(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any], events: list[Any]
) -> None:
    stream = stream_key(settings.key_prefix, VISITS_TOPIC, partition_for(USER, settings.partitions))
    await streams.append(
        aredis, stream, encode_derived_entry(DerivedEntry(events=events)),
        key=USER.encode(), timestamp_ms=1_764_000_000_000,
    )  # fmt: skip
    await fold_all(settings, aredis, pg)


def _visits(pg: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    rows = pg.execute("SELECT * FROM page_visits ORDER BY visit_id").fetchall()
    pg.commit()
    return rows


async def test_copied_visits_equal_upserted_ones(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """The same visits written by the plain insert (all new) and by the upsert (one of the batch was
    stored already) give identical rows, to the millisecond, before 2000 and after."""
    batch = [_visit(n) for n in range(20)] + [_visit(20, start=-86_400_000 * 3 + 1)]
    await _fold(settings, aredis, pg, batch)  # all new: the plain insert
    copied = _visits(pg)
    _check(pg)
    assert len(copied) == 21

    clear_read_tables(pg)
    await _fold(settings, aredis, pg, [batch[5]])
    await _fold(settings, aredis, pg, batch)  # batch[5] is stored: the upsert
    assert _visits(pg) == copied
    _check(pg)


async def test_visits_of_an_erased_session_are_not_copied(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """A late upload of an erased session writes none of its visits, however they merge."""
    pg.execute(
        "INSERT INTO erased_sessions (user_id, session_id) VALUES (%s, %s)",
        (USER, deterministic_id("merge-session", 2)),
    )
    pg.commit()
    await _fold(settings, aredis, pg, [_visit(n, session=1 + n % 2) for n in range(10)])
    sessions = pg.execute("SELECT DISTINCT session_id::text FROM page_visits").fetchall()
    pg.commit()
    assert sessions == [(deterministic_id("merge-session", 1),)]
    assert len(_visits(pg)) == 5
    _check(pg)


def test_staged_visits_of_an_erased_session_are_dropped_and_named_as_text(
    pg: psycopg.Connection[Any],
) -> None:
    """The visits' staging holds ids as ``uuid``: the sessions whose staged rows were dropped
    still come back as text, as from the other staging tables."""
    ensure_temp_tables(pg)
    erased = deterministic_id("merge-session", 2)
    pg.execute("INSERT INTO erased_sessions (user_id, session_id) VALUES (%s, %s)", (USER, erased))
    copy_ops(pg, PAGE_VISITS, [_visit(1), _visit(2, session=2)])
    assert drop_erased_sessions(pg) == {(USER, erased)}
    assert pg.execute("SELECT count(*) FROM tmp_visits").fetchone() == (1,)
    pg.rollback()
