"""The overview's drainer: folds the visits fold's pending changes into the rollups.

The overview's rollups of ``page_visits`` (:data:`projector.overview.OVERVIEW_TABLES`)
are a read model of their own that catches up behind the visits fold (issue 14: they
cost the fold more than ``page_visits`` itself). The fold appends what each batch
changed in its own transaction: a batch of new visits as one row in
``overview_change_refs`` naming them, resolved against ``page_visits`` when drained
(:mod:`projector.overview_refs`), an upsert as a row per changed visit version in
``overview_changes``; the drainer moves every pending
change into the rollups in large batches, deleting what it drained in the same
transaction, so a crash between the two loses nothing and counts nothing twice, and the
rollups plus the pending changes always equal the aggregate of ``page_visits``.

It runs in every projector replica (:func:`projector.app.run_projector`), one at a time
(a try-lock), every :data:`DRAIN_EVERY_S`; an erasure first drains the backlog like the
drainer (:func:`drain_ahead`: bounded transactions, the erasure lock held shared, so folds
go on), then, holding the erasure lock exclusively (which every drain and fold holds
shared), drains only what arrived meanwhile; a replay's swap deletes
the pending changes its shadow rollups already hold (it holds the visits projection's
write lock exclusively, which every drain holds shared). The lag (pending changes, the
oldest one's age) is in ``mindhit lag``, the ops page and ``mindhit_overview_pending_*``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

import msgspec
import psycopg

from mindhit.db import sql_file
from mindhit.erasures import ERASE_LOCK
from projector import metrics
from projector.overview import drain_changes
from projector.pg import ensure_temp_tables, lock_projections

__all__ = [
    "DRAIN_EVERY_S",
    "DRAIN_LOCK",
    "DRAIN_ROWS",
    "OverviewDrainer",
    "Pending",
    "drain_ahead",
    "drain_all",
    "drain_once",
    "pending",
]

DRAIN_LOCK: Final = 0x6D68_6F76  # "mhov": one drainer at a time
DRAIN_ROWS: Final = 200_000
"""Changes drained per transaction at most (a backlog is drained in several)."""
_PENDING: Final = sql_file("mindhit", "overview_pending")
DRAIN_EVERY_S: Final = 0.5
"""Pause between two drains that found less than :data:`DRAIN_ROWS` pending."""
AHEAD_ROUNDS: Final = 8
"""Drain transactions an erasure runs ahead of its exclusive lock at most (a fold that
outruns the drain must not hold the erasure off for good)."""


class Pending(msgspec.Struct, frozen=True):
    """The overview's lag: changes not yet in the rollups, and how old the oldest is."""

    changes: int
    oldest_s: float


def pending(conn: psycopg.Connection[Any]) -> Pending:
    """The pending changes, read from at most 50,001 of them
    (``mindhit/sql/overview_pending.sql``: exact up to 50,000, an estimate above)."""
    conn.execute("SET LOCAL synchronize_seqscans = off")  # from the table's start
    row = conn.execute(_PENDING).fetchone()
    conn.commit()
    return Pending(int(row[0]), float(row[1])) if row else Pending(0, 0.0)


def drain_once(conn: psycopg.Connection[Any], limit: int = DRAIN_ROWS) -> int | None:
    """Drain up to ``limit`` pending changes (rows, then the visits references name, the
    last reference taken whole); how many (None: another replica drains).

    Steps, in one transaction: take the visits projection's write lock shared (a replay
    about to swap holds it exclusively: the drain waits, and the swap for the drain);
    try the drain lock (held: return None); take the erasure lock shared (an erasure
    drains itself holding it exclusively); move up to ``limit`` pending changes into the
    rollups and delete them (:func:`projector.overview.drain_changes`); commit.
    """
    with conn.transaction():
        lock_projections(conn, {"visits"}, shared=True)
        row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (DRAIN_LOCK,)).fetchone()
        if not row or not row[0]:
            return None
        conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", (ERASE_LOCK,))
        return drain_changes(conn, limit=limit)


def drain_all(conn: psycopg.Connection[Any], limit: int = DRAIN_ROWS) -> int:
    """Drain until nothing is pending (waiting for another drainer's turn); how many."""
    ensure_temp_tables(conn)
    conn.commit()
    total = 0
    while True:
        drained = drain_once(conn, limit)
        if drained is None:
            _wait_turn(conn)
            continue
        total += drained
        if drained < limit:
            return total


def drain_ahead(conn: psycopg.Connection[Any], limit: int | None = None) -> int:
    """Drain the backlog before an erasure takes the erasure lock exclusively; how many.

    An erasure drains every pending change under that lock (its rollup adjustments need
    them all in), and every fold waits for it meanwhile: a backlog of 200,000 changes
    and more held every fold up for seconds. Drained here first in transactions of at
    most ``limit`` (:data:`DRAIN_ROWS`) changes, oldest first, like the drainer's (the
    erasure lock held shared: folds go on), the erasure's own drain takes only what
    arrived since. Steps: drain (waiting for another drainer's turn) until a drain finds
    less than ``limit``, at most :data:`AHEAD_ROUNDS` drains; commit each. The caller has
    no transaction open and holds no lock a drain or a fold takes.
    """
    limit = limit or DRAIN_ROWS
    ensure_temp_tables(conn)
    conn.commit()
    total = 0
    for _ in range(AHEAD_ROUNDS):
        while (drained := drain_once(conn, limit)) is None:
            _wait_turn(conn)
        total += drained
        if drained < limit:
            break
    return total


def _wait_turn(conn: psycopg.Connection[Any]) -> None:
    """Wait until the drainer holding the drain lock is done (its turn, then ours)."""
    conn.execute("SELECT pg_advisory_lock(%s)", (DRAIN_LOCK,))
    conn.execute("SELECT pg_advisory_unlock(%s)", (DRAIN_LOCK,))
    conn.commit()


class OverviewDrainer:
    """The drain loop of a projector replica, on a connection of its own.

    A drain holds the drain lock for its transaction, so a replica paused inside one (a
    frozen VM, ``SIGSTOP``) held every other replica's drains off until it resumed: the
    overview stood still. The drainer's session therefore ends a transaction left idle
    longer than ``idle_timeout_ms`` (PostgreSQL rolls it back: nothing half-drained, the
    lock free for the others), and a drainer whose connection was ended so (or lost)
    opens a new one at its next turn.

    Args:
        conn: a synchronous PostgreSQL connection owned by the drainer.
        limit: changes per transaction at most.
        connect: opens a new connection when ``conn`` was ended (none: not reopened).
        idle_timeout_ms: PostgreSQL's ``idle_in_transaction_session_timeout`` for the
            drainer's session (0: none); a drain's statements follow one another at once.
    """

    def __init__(
        self,
        conn: psycopg.Connection[Any],
        *,
        limit: int = DRAIN_ROWS,
        connect: Callable[[], psycopg.Connection[Any]] | None = None,
        idle_timeout_ms: int = 0,
    ) -> None:
        self.conn = conn
        self.limit = limit
        self._connect = connect
        self._idle_timeout_ms = idle_timeout_ms
        self._ready = False

    async def turn(self) -> int:
        """Drain what is pending now (several transactions for a backlog), then set the
        lag gauges; return the changes drained by this replica."""
        return await asyncio.to_thread(self._turn)

    def _turn(self) -> int:
        if self.conn.closed and self._connect is not None:  # ended while idle, or lost
            self.conn = self._connect()
            self._ready = False
        if not self._ready:
            if self._idle_timeout_ms:
                self.conn.execute(
                    f"SET idle_in_transaction_session_timeout = {int(self._idle_timeout_ms)}"
                )
            ensure_temp_tables(self.conn)
            self.conn.commit()
            self._ready = True
        total = 0
        while (drained := drain_once(self.conn, self.limit)) is not None:
            total += drained
            if drained < self.limit:
                break
        metrics.OVERVIEW_DRAINED.inc(total)
        lag = pending(self.conn)
        metrics.OVERVIEW_PENDING.set(lag.changes)
        metrics.OVERVIEW_PENDING_AGE.set(lag.oldest_s)
        return total
