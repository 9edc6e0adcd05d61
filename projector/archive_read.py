"""Reading the durable archive (``event_log``) back in log order, streaming.

Used by replay and by the live loop when Redis no longer holds entries it needs.
A server-side cursor keeps memory flat however long the archive is.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg

__all__ = ["archived_end", "read_archived"]


def read_archived(
    conn: psycopg.Connection[Any], topic: str, partition: int, lo: int, hi: int | None = None
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, value)`` of archived rows with ``lo <= offset < hi``, in log order.

    An entry split per user yields one value per part, in part order. Must run
    inside a transaction (the named cursor lives in it).
    """
    query = (
        'SELECT "offset", value FROM event_log WHERE topic = %s AND partition = %s'
        ' AND "offset" >= %s'
        + (' AND "offset" < %s' if hi is not None else "")
        + ' ORDER BY "offset", part'
    )
    params: tuple[Any, ...] = (topic, partition, lo) if hi is None else (topic, partition, lo, hi)
    with conn.cursor(name=f"archive_{topic}_{partition}") as cur:
        cur.itersize = 256  # rows: a raw row holds ~200 events
        cur.execute(query, params)  # type: ignore[arg-type]
        for offset, value in cur:
            yield offset, bytes(value)


def archived_end(conn: psycopg.Connection[Any], topic: str, partition: int) -> int:
    """The archiver's checkpoint for one stream: every offset below it is archived."""
    row = conn.execute(
        "SELECT next_offset FROM projection_checkpoints"
        " WHERE projection = 'archiver' AND topic = %s AND partition = %s",
        (topic, partition),
    ).fetchone()
    return int(row[0]) if row else 0
