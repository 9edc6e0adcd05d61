"""Replay's last step: put rebuilt shadow tables in place of the live ones, atomically.

:func:`swap` runs one short transaction that reads nothing from Redis and folds
nothing: everything was caught up before (:mod:`projector.replay`), while the
caller held the projections' write locks (:func:`write_locks`), so the live
checkpoints could not move. The transaction only checks that, takes the table
locks with a short ``lock_timeout`` (dashboard queries are never held up for
long) and renames.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import psycopg
from psycopg import sql

from mindhit import checkpoints
from mindhit.checkpoints import CheckpointMoved, Checkpoints
from mindhit.logs import get_logger
from projector.derivations import record_derivation
from projector.diff import SessionChange, other_changes, session_changes
from projector.pg import PROJECTION_LOCK, SHADOW_SUFFIX
from projector.projections import tables_of

__all__ = [
    "SWAP_ATTEMPTS",
    "NewDerivation",
    "SwapLocked",
    "SwapOutcome",
    "swap",
    "write_locks",
]

log = get_logger(__name__)

SWAP_ATTEMPTS = 100
SWAP_LOCK_TIMEOUT_MS = 200


class SwapLocked(RuntimeError):
    """The live tables stayed locked by others for every attempt."""


class NewDerivation(msgspec.Struct, frozen=True, kw_only=True):
    """A re-derived history for the swap to put in force (``derivations``)."""

    generation: int
    settings: dict[str, Any]
    cutover: dict[int, int]
    entries: int


class SwapOutcome(msgspec.Struct, kw_only=True):
    """What the swap did: whether it renamed, and the ``diff`` if asked."""

    swapped: bool
    changes: list[SessionChange] = []
    other: dict[str, int] = {}


@contextmanager
def write_locks(conn: psycopg.Connection[Any], projections: tuple[str, ...]) -> Iterator[None]:
    """Hold the projections' write locks (session level) while in the block.

    The live projector takes the same lock first in each commit
    (:func:`projector.pg.lock_projections`), so while they are held the live
    checkpoints of ``projections`` cannot move; dashboard queries are not blocked.
    """
    names = sorted(projections)
    for name in names:
        conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (PROJECTION_LOCK, name))
    conn.commit()
    try:
        yield
    finally:
        if not conn.closed:  # else the session's locks went with it
            conn.rollback()
            for name in names:
                conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (PROJECTION_LOCK, name))
            conn.commit()


async def swap(
    conn: psycopg.Connection[Any],
    projections: tuple[str, ...],
    advance: Checkpoints,
    *,
    seen: Checkpoints,
    diff: bool = False,
    dry_run: bool = False,
    derivation: NewDerivation | None = None,
) -> SwapOutcome:
    """Swap the shadows of ``projections`` in, in one short transaction.

    ``advance`` holds the checkpoints the shadows correspond to, ``seen`` the live
    checkpoints they were caught up with. Call it holding :func:`write_locks`. Steps,
    in one transaction (on a busy lock or a deadlock it is rolled back and tried again
    after a pause, up to :data:`SWAP_ATTEMPTS` times):
      1. lock the projections' checkpoint rows and check they are still at ``seen``;
      2. lock the live tables (``ACCESS EXCLUSIVE``, waiting at most
         ``SWAP_LOCK_TIMEOUT_MS``);
      3. compute the ``diff`` (live vs. shadow) if asked;
      4. unless ``dry_run``: rename each live table away and its shadow in, drop the
         old one; with ``page_visits``, delete the overview's pending changes (the
         shadow rollups, folded with its visits, already sum them); store the
         checkpoints ``advance`` moves; put ``derivation`` in force;
      5. commit.

    Raises:
        SwapLocked: the live tables stayed locked for every attempt.
        CheckpointMoved: a checkpoint moved since ``seen`` (the write locks were
            not held).
    """
    for attempt in range(SWAP_ATTEMPTS):
        try:
            with conn.transaction():
                return _swap_once(
                    conn,
                    projections,
                    advance,
                    seen=seen,
                    diff=diff,
                    dry_run=dry_run,
                    derivation=derivation,
                )
        except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected):
            log.info("replay_swap_retry", attempt=attempt + 1)
            await asyncio.sleep(min(0.05 * (attempt + 1), 1.0))
    raise SwapLocked(f"could not lock the live tables in {SWAP_ATTEMPTS} attempts")


def _swap_once(
    conn: psycopg.Connection[Any],
    projections: tuple[str, ...],
    advance: Checkpoints,
    *,
    seen: Checkpoints,
    diff: bool,
    dry_run: bool,
    derivation: NewDerivation | None,
) -> SwapOutcome:
    """Steps 1–4 of :func:`swap`, inside its transaction."""
    tables = tables_of(projections)
    conn.execute(f"SET LOCAL lock_timeout = '{SWAP_LOCK_TIMEOUT_MS}ms'")
    live = checkpoints.load(conn, projections, lock=True)
    moved = sorted(k for k in {*live, *seen} if live.get(k) != seen.get(k))
    if moved:
        raise CheckpointMoved(f"checkpoints moved since the catch-up: {moved[:5]}")
    conn.execute(
        sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
            sql.SQL(", ").join(sql.Identifier(t) for t in tables)
        )
    )
    outcome = SwapOutcome(swapped=False)
    if diff:
        outcome.changes = session_changes(conn, tables)
        outcome.other = other_changes(conn, tables)
    if dry_run:
        return outcome
    _rename(conn, tables)
    if "page_visits" in tables:  # the shadow rollups sum its visits: live changes are moot
        conn.execute("DELETE FROM overview_changes")  # both kinds (migration 271)
        conn.execute("DELETE FROM overview_change_refs")
    checkpoints.store(conn, {k: o for k, o in advance.items() if live.get(k) != o})
    if derivation is not None:
        record_derivation(
            conn,
            derivation.generation,
            settings=derivation.settings,
            cutover=derivation.cutover,
            entries=derivation.entries,
        )
    outcome.swapped = True
    return outcome


def _rename(conn: psycopg.Connection[Any], tables: tuple[str, ...]) -> None:
    """Swap each shadow table in under the live name; drop the old one."""
    for t in tables:
        old = sql.Identifier(t + "__old")
        conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(sql.Identifier(t), old))
        conn.execute(
            sql.SQL("ALTER TABLE {} RENAME TO {}").format(
                sql.Identifier(t + SHADOW_SUFFIX), sql.Identifier(t)
            )
        )
        conn.execute(sql.SQL("DROP TABLE {}").format(old))
