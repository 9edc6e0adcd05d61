"""Derivations: history re-derived with other settings, kept for good (``derived_log``).

``mindhit replay --rederive`` re-runs the processors over the raw log below a
cutover (per raw partition) and keeps what they derived as a numbered
*generation*. From then on every fold — the live projector, a plain replay, a
later rederive's catch-up — skips a live derived entry whose origin (the raw
entry it came from) lies below the cutover: the generation replaced it. A plain
replay folds the generation's entries first, then the live entries past the
cutover, so it rebuilds what the rederive swapped in.

Pure decisions (:func:`superseded`) are separate from the SQL helpers.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
import psycopg

from mindhit.db import sql_file
from projector.pg import ERASE_LOCK, load_erased

__all__ = [
    "Derivation",
    "DerivedRow",
    "drop_unrecorded",
    "latest_derivation",
    "new_generation",
    "read_generation",
    "record_derivation",
    "superseded",
    "write_rows",
]


_COPY = sql_file("projector", "derived_log_copy")
_DROP_GENERATION = sql_file("projector", "derived_log_drop_generation")
_PAGE = sql_file("projector", "derived_log_page")


class Derivation(msgspec.Struct, frozen=True, kw_only=True):
    """The latest re-derivation: which raw entries it covers and with what settings."""

    generation: int
    cutover: dict[int, int]
    settings: dict[str, Any] = {}


DerivedRow = tuple[int, str, int, int, int, "uuid.UUID | None", dt.datetime, bytes]
"""(generation, topic, partition, seq, origin, user_id, logged_at, value) of ``derived_log``."""


def superseded(origin: int, cutover: int) -> bool:
    """Whether a live derived entry from raw offset ``origin`` is replaced by the derivation.

    Entries from no raw entry (``origin == -1``: erasures, retried old work) never are.
    """
    return 0 <= origin < cutover


def latest_derivation(conn: psycopg.Connection[Any]) -> Derivation | None:
    """The derivation in force, if any replay ever re-derived history."""
    with conn.transaction():
        row = conn.execute(
            "SELECT generation, cutover, settings FROM derivations ORDER BY generation DESC LIMIT 1"
        ).fetchone()
    if row is None:
        return None
    return Derivation(
        generation=int(row[0]),
        cutover={int(p): int(o) for p, o in row[1].items()},
        settings=dict(row[2]),
    )


def new_generation(conn: psycopg.Connection[Any]) -> int:
    """Reserve the next generation number (its rows count only once it is recorded)."""
    with conn.transaction():
        row = conn.execute("SELECT nextval('derivation_generation')").fetchone()
    assert row is not None
    return int(row[0])


def drop_unrecorded(conn: psycopg.Connection[Any], generation: int | None = None) -> int:
    """Delete rows of derivations never recorded (an aborted or dry-run rederive).

    With ``generation``, only that one's rows go.
    """
    with conn.transaction():
        if generation is not None:
            return conn.execute(_DROP_GENERATION, (generation,)).rowcount
        return conn.execute(
            "DELETE FROM derived_log WHERE generation NOT IN (SELECT generation FROM derivations)"
        ).rowcount


def write_rows(conn: psycopg.Connection[Any], rows: list[DerivedRow]) -> None:
    """Append rows of a generation being built (COPY, in its own transaction).

    Holds the erasure lock shared and leaves out rows of users erased meanwhile
    (up to their cut), so an erasure during a rederive leaves nothing behind.
    """
    if not rows:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (ERASE_LOCK,))
        erased = load_erased(conn)
        with conn.cursor().copy(_COPY) as copy:
            for row in rows:
                user, logged_at = row[5], row[6]
                cut = erased.get(str(user)) if user is not None else None
                if cut is not None and logged_at.timestamp() * 1000 <= cut:
                    continue
                copy.write_row(row)


def read_generation(
    conn: psycopg.Connection[Any], generation: int, topic: str, partition: int, *, page: int = 512
) -> Iterator[bytes]:
    """Yield the values of one generation's stream in order, page by page (flat memory)."""
    position = -1
    while True:
        with conn.transaction():
            rows = conn.execute(_PAGE, (generation, topic, partition, position, page)).fetchall()
        for seq, value in rows:
            position = seq
            yield bytes(value)
        if len(rows) < page:
            return


def record_derivation(
    conn: psycopg.Connection[Any],
    generation: int,
    *,
    settings: Mapping[str, Any],
    cutover: Mapping[int, int],
    entries: int,
) -> None:
    """Put ``generation`` in force (inside the swap's transaction); drop older generations."""
    conn.execute(
        "INSERT INTO derivations (generation, settings, cutover, entries) VALUES (%s, %s, %s, %s)",
        (
            generation,
            json.dumps(dict(settings)),
            json.dumps({str(p): o for p, o in cutover.items()}),
            entries,
        ),
    )
    conn.execute("DELETE FROM derived_log WHERE generation < %s", (generation,))
    conn.execute("DELETE FROM derivations WHERE generation < %s", (generation,))
