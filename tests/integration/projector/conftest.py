"""Fixtures for projector tests: clean read tables, snapshots, and a projector run helper."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.settings import Settings
from projector.consumer import ProjectionConsumer
from projector.overview_drainer import drain_all
from projector.projections import ARCHIVED_TOPICS, stream_ids

READ_TABLES = {
    "sessions": "session_id",
    "urls": "url_hash, content_hash",
    "page_texts": "content_hash",
    "page_visits": "visit_id",
    "mindmap_graphs": "session_id",
    "overview_days": "user_id, day",
    "overview_domains": "user_id, day, domain",
    "overview_domains_monthly": "user_id, month, domain",
    "overview_pages_monthly": "user_id, month, url_hash, content_hash",
    "overview_branches": "user_id, session_id, branch",
    "page_titles": "user_id, url_hash, content_hash, title",
}
STATE_TABLES = (
    "projection_checkpoints",
    "erased_users",
    "erasure_purges",
    "event_log",
    "derivations",
    "derived_log",
    "erased_sessions",
    "session_deletions",
    "session_labels",
    "partition_fences",
    "overview_changes",
    "overview_change_refs",
)


def clear_read_tables(conn: psycopg.Connection[Any], *, state: bool = True) -> None:
    """Empty the read tables (and checkpoints, tombstones, archive when ``state``)."""
    tables = list(READ_TABLES) + (list(STATE_TABLES) if state else [])
    with conn.transaction():
        conn.execute("TRUNCATE " + ", ".join(tables))
        for table in READ_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}__shadow")


def snapshot(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    """Every read-table row, ordered by primary key: the row-by-row comparison basis."""
    out = {}
    for table, key in READ_TABLES.items():
        out[table] = conn.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall()
    conn.commit()
    return out


@pytest.fixture
def pg(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection to the test database with empty read tables (emptied again after).

    Emptied after too: a derivation left in force would make other tests' projectors
    skip their derived entries.
    """
    with psycopg.connect(database_url) as conn:
        clear_read_tables(conn)
        yield conn
        conn.rollback()
        clear_read_tables(conn)


async def fold_all(
    settings: Settings, redis: aioredis.Redis, conn: psycopg.Connection[Any]
) -> None:
    """Run a consumer until every stream is folded to its highwater, then drain the
    overview's pending changes into its rollups (the projector's drainer would, shortly)."""
    consumer = ProjectionConsumer(settings, redis, conn)
    await consumer.load()
    while await consumer.turn(block_ms=None):
        pass
    assert not any((await consumer.lag()).values())
    await asyncio.to_thread(drain_all, conn)


async def highwaters(settings: Settings, redis: aioredis.Redis) -> dict[str, int]:
    """Highwater of every archived stream."""
    return {s: await streams.highwater(redis, s) for s in stream_ids(settings, ARCHIVED_TOPICS)}
