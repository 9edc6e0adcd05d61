"""Reading the durable archive (``event_log``) back in log order, streaming.

Used by replay and by the live loop when Redis no longer holds entries it needs.
Paged by offset ranges (the primary key's order), so memory stays flat however
long the archive is and no transaction stays open across pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg

from mindhit import checkpoints
from mindhit.db import sql_file
from projector.projections import ARCHIVER

__all__ = ["archived_end", "read_archived"]

_PAGE = sql_file("projector", "archive_page")


def read_archived(
    conn: psycopg.Connection[Any],
    topic: str,
    partition: int,
    lo: int,
    hi: int | None = None,
    *,
    page: int = 256,
) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, value)`` of archived rows with ``lo <= offset < hi``, in log order.

    An entry split per user yields one value per part, in part order. Reads pages
    of ``page`` offsets, each in its own short transaction (a savepoint when the
    caller is inside one), so no lock or snapshot is held between pages and memory
    stays bounded (a raw row holds ~200 events).
    """
    if hi is None:
        with conn.transaction():
            row = conn.execute(
                'SELECT max("offset") FROM event_log WHERE topic = %s AND partition = %s',
                (topic, partition),
            ).fetchone()
        hi = (row[0] + 1) if row and row[0] is not None else lo
    position = lo
    while position < hi:
        upto = min(hi, position + page)
        with conn.transaction():
            rows = conn.execute(_PAGE, (topic, partition, position, upto)).fetchall()
        for offset, value in rows:
            yield offset, bytes(value)
        position = upto


def archived_end(conn: psycopg.Connection[Any], topic: str, partition: int) -> int:
    """The archiver's checkpoint for one stream: every offset below it is archived."""
    with conn.transaction():
        stored = checkpoints.load(conn, [ARCHIVER])
    return stored.get((ARCHIVER, topic, partition), 0)
