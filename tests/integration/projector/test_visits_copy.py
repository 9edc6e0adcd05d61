"""New visits COPYed straight into page_visits with their pending overview changes
(projector/visits_copy.py): the same rows and changes as the staging path, which still
takes every batch the COPY must not write."""

from __future__ import annotations

import threading
import time
from typing import Any

import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.settings import Settings
from projector import pg as adapter
from projector import visits_copy
from projector.erase_session import tombstone_key
from projector.folds import Batch
from projector.pg import ensure_temp_tables, live_tables
from projector.rows import VisitRow
from projector.tables import PAGE_VISITS
from projector.visits_merge import merge_visits
from schema.derived import VisitClosed
from schema.ids import deterministic_id
from schema.log import DerivedEntry

from .test_overview_rollups import _check
from .test_visits_merge import USER, _fold, _visit, _visits

pytestmark = pytest.mark.integration

_CHANGES = (
    "SELECT user_id, day, domain, url_hash, content_hash, title, dwell_ms, visits"
    " FROM overview_changes ORDER BY 1, 2, 3, 4, 5, 6, 7"
)
_DAY = 86_400_000


def _rows(events: list[VisitClosed]) -> list[VisitRow]:
    batch = Batch()
    batch.add_derived(DerivedEntry(events=events))
    return list(batch.visits.values())


def _edge_visits() -> list[VisitClosed]:
    """Times on both sides of midnight UTC, of 1970 and of 2000; titles beyond ASCII."""
    starts = [
        1_764_000_000_123, 1_764_028_799_999, 1_764_028_800_000, -1, 0, -_DAY, -_DAY - 1,
        946_684_800_000, 946_684_799_999, -62_135_596_800_000,
    ]  # fmt: skip
    out = []
    for n, start in enumerate(starts):
        visit = _visit(100 + n, session=1 + n % 3, start=start - (100 + n) * 7)
        out.append(msgspec.structs.replace(visit, title=f"Tête-à-tête {n} ✓"))
    return out


def _written(conn: psycopg.Connection[Any]) -> tuple[list[Any], list[Any]]:
    visits = conn.execute("SELECT * FROM page_visits ORDER BY visit_id").fetchall()
    return visits, conn.execute(_CHANGES).fetchall()  # type: ignore[arg-type]


def test_copied_visits_and_changes_equal_the_staged_ones(pg: psycopg.Connection[Any]) -> None:
    """The COPY writes the rows and change rows the staging path's insert and its
    ``INSERT … SELECT`` of the changes write, to the millisecond and the UTC day."""
    rows = _rows(_edge_visits())
    ensure_temp_tables(pg)
    assert visits_copy.copy_new_visits(pg, live_tables(), rows)
    copied = _written(pg)
    pg.rollback()

    ensure_temp_tables(pg)
    adapter._copy(pg, PAGE_VISITS, rows)
    merge_visits(pg, live_tables(), PAGE_VISITS.upsert)
    staged = _written(pg)
    pg.rollback()
    assert len(copied[0]) == len(rows) and len(copied[1]) == len(rows)
    assert copied == staged


def test_what_the_copy_must_not_write_goes_to_the_staging_path(
    pg: psycopg.Connection[Any],
) -> None:
    """Replay's shadow tables, a time PostgreSQL cannot store, a session with a tombstone
    and a visit stored already: nothing is written, the caller stages the batch."""
    ensure_temp_tables(pg)
    rows = _rows([_visit(n) for n in range(6)])
    shadow = {k: v for k, v in live_tables().items() if k != "overview_changes"}
    assert not visits_copy.copy_new_visits(pg, shadow, rows)
    far = _rows([_visit(9, start=253_402_300_800_000)])
    assert not visits_copy.copy_new_visits(pg, live_tables(), far)
    pg.execute(
        "INSERT INTO erased_sessions (user_id, session_id) VALUES (%s, %s)",
        (USER, tombstone_key(deterministic_id("merge-session", 1))),
    )
    assert not visits_copy.copy_new_visits(pg, live_tables(), rows)
    pg.rollback()

    ensure_temp_tables(pg)
    assert visits_copy.copy_new_visits(pg, live_tables(), rows[2:3])
    before = _written(pg)
    assert not visits_copy.copy_new_visits(pg, live_tables(), rows)  # rows[2] is stored
    assert _written(pg) == before  # the savepoint took back what the COPY wrote
    pg.rollback()


async def test_new_visits_are_not_staged(
    settings: Settings,
    aredis: aioredis.Redis,
    pg: psycopg.Connection[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A live batch of new visits is COPYed into page_visits, not staged and inserted."""
    staged: list[str] = []
    copy = adapter._copy

    def spy(conn: psycopg.Connection[Any], table: Any, ops: Any) -> None:
        staged.append(table.name)
        copy(conn, table, ops)

    monkeypatch.setattr(adapter, "_copy", spy)
    await _fold(settings, aredis, pg, [_visit(n) for n in range(8)])
    assert "page_visits" not in staged and len(_visits(pg)) == 8
    _check(pg)
    await _fold(settings, aredis, pg, [_visit(n) for n in range(4, 12)])  # 4 stored: staged
    assert "page_visits" in staged and len(_visits(pg)) == 12
    _check(pg)


async def test_a_visit_another_writer_is_inserting_waits_then_merges(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any], database_url: str
) -> None:
    """Another user's uncommitted row of a visit id the batch brings: the COPY waits for
    it, meets the unique violation once it commits, and the batch is merged by the upsert
    (the other user's row stays theirs, nothing counts twice)."""
    other = deterministic_id("merge-user", 2)
    taken = _visit(3)
    with psycopg.connect(database_url) as holder:
        holder.execute(
            "INSERT INTO page_visits (visit_id, user_id, session_id, client_id, url_hash, url,"
            " start_at, end_at, dwell_ms) VALUES (%s, %s, %s, 'x', 'hx', 'u', now(), now(), 1)",
            (taken.visit_id, other, deterministic_id("merge-session", 9)),
        )
        holder.execute(
            "INSERT INTO overview_changes (user_id, day, domain, url_hash, content_hash, title,"
            " dwell_ms, visits) VALUES (%s, (now() AT TIME ZONE 'UTC')::date, '', 'hx', '', '',"
            " 1, 1)",
            (other,),
        )
        timer = threading.Timer(0.5, holder.commit)
        timer.start()
        started = time.monotonic()
        await _fold(settings, aredis, pg, [_visit(n) for n in range(6)])
        timer.join()
    assert time.monotonic() - started >= 0.5  # it waited for the other writer
    owners = dict(pg.execute("SELECT visit_id::text, user_id::text FROM page_visits").fetchall())
    pg.commit()
    assert owners[taken.visit_id] == other and len(owners) == 6
    _check(pg)
