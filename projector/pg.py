"""The PostgreSQL adapter: apply a batch of row operations and its checkpoint atomically.

The same code writes the live tables and replay's shadow tables: a :data:`Tables`
map names the physical table behind each logical one. The staging tables, COPY
types and upserts are derived from the table definitions in :mod:`projector.tables`;
other SQL lives in ``sql/`` next to this module, with ``{table}`` placeholders
filled in as identifiers. Checkpoints are read, fenced and stored through
:mod:`mindhit.checkpoints`.

Erasure and folding are serialized by a PostgreSQL advisory lock: every batch
holds it shared for its transaction, an erasure holds it exclusively, so no batch
can re-insert rows of a user whose erasure committed meanwhile (the batch reads the
``erased_users`` rows committed since the last it saw, after taking the lock).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

import psycopg
from psycopg import errors, sql

from mindhit.checkpoints import CheckpointMoved, Checkpoints, fence, store
from mindhit.db import sql_file
from mindhit.erasures import ERASE_LOCK  # erasure vs. folding (re-exported)
from mindhit.logs import get_logger
from projector import fencing
from projector.erase_session import drop_erased_sessions, erase_session_rows, record_purges
from projector.folds import Batch
from projector.nul_text import scrub_nul
from projector.overview import (
    OVERVIEW_CHANGES,
    drain_changes,
    ensure_overview_temp,
    rebuild_staged_branches,
    rebuild_user,
)
from projector.overview_refs import OVERVIEW_CHANGE_REFS
from projector.projections import PROJECTIONS, ROLLUP_TABLES
from projector.rows import EraseUser
from projector.shared_pages import Heirs, hand_over_archive, hand_over_read_pages
from projector.staging import copy_ops, one_owner, restage_visits, stage_visits
from projector.tables import READ_TABLES, Tables, staging_ddl, with_tables
from projector.visits_merge import merge_visits

__all__ = [
    "ALL_TABLES",
    "ERASE_LOCK",
    "SHADOW_SUFFIX",
    "Tables",
    "Writer",
    "apply_batch",
    "ensure_temp_tables",
    "erase_user_rows",
    "erased_after",
    "live_tables",
    "load_erased",
    "lock_projections",
]

PROJECTION_LOCK: Final = 0x6D68_7077  # "mhpw": one writer per projection at a time (two-key form)
URL_LOCK: Final = 0x6D68_7572  # "mhur": one merger per URL row key at a time (two-key form)
SHADOW_SUFFIX: Final = "__shadow"
WORK_MEM: Final = "64MB"
"""Sort/hash memory of a projector connection (a batch's merge stays in memory)."""
ALL_TABLES: Final = tuple(t for p in PROJECTIONS.values() for t in p.tables)
"""Every read table, in erasure order (sessions before their mind maps, URLs before texts)."""


log = get_logger(__name__)

_STAGING = staging_ddl()
_UPSERT = {name: table.upsert for name, table in READ_TABLES.items()}
_BATCH_ROWS = {
    "sessions": "sessions",
    "urls": "urls",
    "page_texts": "texts",
    "page_visits": "visits",
    "mindmap_graphs": "mindmaps",
}
"""Read table → the :class:`projector.folds.Batch` attribute holding its row operations."""
_CLEAR_STAGING = "".join(f"DELETE FROM {t.staging};" for t in READ_TABLES.values())
_ERASED_USER = sql_file("projector", "erased_user")
_ERASE_PAGE_TEXTS = sql_file("projector", "erase_page_texts")
_ERASURE_PURGE = sql_file("projector", "erasure_purge")
_LOCK_URL_KEYS = sql_file("projector", "urls_lock_keys")


def live_tables() -> dict[str, str]:
    """Every logical table (read tables, rollups, the overview's pending changes) is live."""
    return {t: t for t in (*ALL_TABLES, *ROLLUP_TABLES, OVERVIEW_CHANGES, OVERVIEW_CHANGE_REFS)}


def ensure_temp_tables(conn: psycopg.Connection[Any]) -> None:
    """Create the per-connection staging tables (idempotent) and size its sort memory.

    A batch of tens of thousands of rows sorts and groups more than PostgreSQL's
    default ``work_mem`` (4 MB) holds: the merge and the rollups spilled to disk.
    """
    conn.execute(_STAGING)  # type: ignore[arg-type]
    conn.execute(f"SET work_mem = '{WORK_MEM}'")  # type: ignore[arg-type]
    ensure_overview_temp(conn)


def load_erased(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Every erased user id → the erasure's cut (Unix ms; their events up to it are gone)."""
    return erased_after(conn, 0)[0]


def erased_after(conn: psycopg.Connection[Any], seq: int) -> tuple[dict[str, int], int]:
    """Users erased (or erased again) after erasure number ``seq`` → their cut (Unix ms),
    and the last erasure number read (``seq`` when there is none).

    Erasure numbers follow commit order: every writer of ``erased_users`` holds
    :data:`ERASE_LOCK` exclusively while it takes one, so a reader that has seen number
    ``n`` has seen every erasure before it (migration 240).
    """
    rows = conn.execute(
        "SELECT user_id::text, (extract(epoch FROM erased_at) * 1000)::bigint, seq"
        " FROM erased_users WHERE seq > %s",
        (seq,),
    ).fetchall()
    return {u: int(at) for u, at, _ in rows}, max((int(n) for _, _, n in rows), default=seq)


def _stage(conn: psycopg.Connection[Any], batch: Batch, tables: Tables) -> list[str]:
    """COPY every row operation of ``batch`` into the staging tables; return the read
    tables that got rows.

    Staging tables empty at commit, but not at a savepoint: replay folds several
    batches inside one transaction, so first clear what an earlier batch left.
    """
    conn.execute(_CLEAR_STAGING)  # type: ignore[arg-type]
    staged: list[str] = []
    for name, table in READ_TABLES.items():
        ops: dict[Any, Any] = getattr(batch, _BATCH_ROWS[name])
        if ops and name == "page_visits":
            stage_visits(conn, batch, tables.get(name, name))
        elif ops:
            copy_ops(conn, table, one_owner(conn, table, tables.get(name, name), ops))
        if ops:
            staged.append(name)
    return staged


_CUT = "timestamptz 'epoch' + %(at)s * interval '1 ms'"
_ERASE_WHERE = {
    "sessions": "user_id = %(user)s",
    "page_visits": "user_id = %(user)s",
    "mindmap_graphs": "user_id = %(user)s",
    "urls": "user_id = %(user)s",
}
"""Every read row of the user goes, whatever times the client put in its events: a
client clock ahead of the server (row times after the cut) must not keep anything.
What the gateway receives after the cut is projected again later."""
_LOGGED_UP_TO = f"GREATEST({_CUT}, now())"
"""Archive rows logged up to the cut or before the erasure commits (a lagging worker's
output of older uploads); the archiver keeps out those it writes later."""


def erase_user_rows(
    conn: psycopg.Connection[Any],
    erase: EraseUser,
    purges: Mapping[str, int],
) -> int:
    """Erase one user up to ``erase.at`` inside the caller's transaction; return rows deleted.

    Steps: drain the overview's pending changes (:func:`projector.overview.drain_changes`: the
    rollups then sum every visit); record the tombstone (its ``erased_at`` is the cut, server time:
    what the gateway received up to it is skipped forever, later uploads are projected again); hand
    the URL versions other users still read over to one of them, then delete the user's rows from
    every read table and its shadow (if a replay is building one); delete orphaned page texts;
    move the archived url events of the handed-over versions to their heirs
    (:mod:`projector.shared_pages`), then delete the user's archive rows and re-derived entries
    logged up to the cut or this transaction; delete the names they gave sessions and the deletions
    they asked for; delete the account and its session tombstones when asked (``mindhit erase``);
    record the Redis purges owed (``purges``: stream key → trim below this offset).
    """
    params = {"user": erase.user_id, "at": erase.at}
    drain_changes(conn)  # who else reads a page (page_titles) and the user's share, complete
    conn.execute(_ERASED_USER, {**params, "reason": erase.reason})
    deleted, heirs = _erase_read_rows(conn, "", params)
    deleted += _erase_read_rows(conn, SHADOW_SUFFIX, params)[0]
    hand_over_archive(conn, erase.user_id, heirs)
    for log_table in ("event_log", "derived_log"):
        deleted += conn.execute(
            sql.SQL(
                "DELETE FROM {} WHERE user_id = %(user)s AND logged_at <= " + _LOGGED_UP_TO
            ).format(sql.Identifier(log_table)),
            params,
        ).rowcount
    tombstones = ("erased_sessions",) if erase.delete_account else ()
    for kept in ("session_labels", "session_deletions", *tombstones):  # names, deletions asked
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE user_id = %(user)s").format(sql.Identifier(kept)), params
        )
    if erase.delete_account:
        conn.execute("DELETE FROM users WHERE user_id = %(user)s", params)
    record_purges(conn, erase.user_id, purges)
    return deleted


def _exists(conn: psycopg.Connection[Any], table: str) -> bool:
    return conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() != (None,)


def _erase_read_rows(
    conn: psycopg.Connection[Any], suffix: str, params: dict[str, Any]
) -> tuple[int, Heirs]:
    """Delete one user's rows from the read tables named ``<table><suffix>``; first hand
    the page versions other users still read over to one of them (returned: who got which)."""
    names = {base: base + suffix for base in ALL_TABLES if _exists(conn, base + suffix)}
    hashes: list[str] = []
    heirs: Heirs = {}
    if {"urls", "page_visits"} <= names.keys() and _exists(conn, titles := "page_titles" + suffix):
        user, urls, visits = str(params["user"]), names["urls"], names["page_visits"]
        heirs = hand_over_read_pages(conn, user, urls=urls, visits=visits, titles=titles)
    if "urls" in names:
        query = sql.SQL("SELECT DISTINCT content_hash FROM {t} WHERE ").format(
            t=sql.Identifier(names["urls"])
        ) + sql.SQL(_ERASE_WHERE["urls"])
        hashes = [r[0] for r in conn.execute(query, params)]
    deleted = 0
    for base, name in names.items():
        if base == "page_texts":
            query = sql.SQL(_ERASE_PAGE_TEXTS).format(
                t=sql.Identifier(name), u=sql.Identifier(names["urls"])
            )
            deleted += conn.execute(query, {"hashes": hashes}).rowcount
            continue
        where = _ERASE_WHERE[base].replace("{sessions}", "{s}")
        query = sql.SQL("DELETE FROM {t} WHERE " + where).format(
            t=sql.Identifier(name),
            s=sql.Identifier(names.get("sessions", "sessions")),
        )
        deleted += conn.execute(query, params).rowcount
    rollups = {b: b + suffix for b in ROLLUP_TABLES if _exists(conn, b + suffix)}
    rebuild_user(conn, {**names, **rollups}, str(params["user"]))  # the overview follows
    return deleted, heirs


@dataclass(frozen=True)
class Writer:
    """Who commits a batch, for its checks.

    Attributes:
        generation: the derivation the batch was folded with (checked; None: not checked).
        epochs: partition → log epoch the entries were read in (stored with the checkpoints).
        tokens: partition → fencing token of a projector group's replica (checked; None:
            not in a group).
    """

    generation: int | None = None
    epochs: Mapping[int, str] | None = None
    tokens: fencing.Tokens | None = None


_ANONYMOUS = Writer()


def apply_batch(
    conn: psycopg.Connection[Any],
    batch: Batch,
    *,
    tables: Tables,
    expected: Checkpoints,
    advance: Checkpoints,
    purges: Mapping[str, Mapping[str, int]] | None = None,
    writer: Writer = _ANONYMOUS,
) -> None:
    """Apply ``batch`` and move the checkpoints from ``expected`` to ``advance``, atomically.

    Steps, in one transaction: take the write lock of each projection the batch
    advances (shared for a projector group's replica, whose partitions are fenced by
    ``writer.tokens``; else exclusive: two writers of one projection folding different topics
    or partitions would both insert the same new row; a replay about to swap holds it
    exclusively); take the erasure lock (exclusive when the batch erases someone, else
    shared); check the partitions' fencing tokens (else raise
    :class:`projector.fencing.Fenced`); drop operations of users erased since the
    erasure ``batch.erased_seq`` (and move it on);
    lock the checkpoint rows and check they still hold ``expected`` (else raise
    :class:`mindhit.checkpoints.CheckpointMoved`: another writer or a replay swap moved them, or
    a rederive put a derivation other than ``writer.generation`` in force); apply
    the erasures (users, then single sessions); stage the rows with COPY; drop staged
    rows of erased sessions; merge them into the tables (new visits by a plain
    insert, :mod:`projector.visits_merge`; the overview's rollups following visits and
    maps); store the new checkpoints (stamped with the log epochs they were read in); commit. On
    any error nothing is written. Refused for a NUL character in its text (which
    PostgreSQL cannot store), the batch is applied again with each one replaced
    (:mod:`projector.nul_text`): one such title must not stop the projector.
    """
    try:
        _apply_batch(conn, batch, tables, expected, advance, purges, writer)
    except (errors.CharacterNotInRepertoire, errors.UntranslatableCharacter) as exc:
        if not scrub_nul(batch, _BATCH_ROWS.values()):
            raise
        log.warning("nul_characters_replaced", error=str(exc).splitlines()[0])
        _apply_batch(conn, batch, tables, expected, advance, purges, writer)


def _apply_batch(
    conn: psycopg.Connection[Any],
    batch: Batch,
    tables: Tables,
    expected: Checkpoints,
    advance: Checkpoints,
    purges: Mapping[str, Mapping[str, int]] | None,
    writer: Writer,
) -> None:
    """:func:`apply_batch`, once."""
    tokens = writer.tokens
    with conn.transaction():
        lock_projections(conn, {name for name, _, _ in advance}, shared=tokens is not None)
        erasing = batch.erasures or batch.session_erasures
        lock = "pg_advisory_xact_lock" if erasing else "pg_advisory_xact_lock_shared"
        conn.execute(f"SELECT {lock}(%s)", (ERASE_LOCK,))  # type: ignore[arg-type]
        if tokens is not None:
            fencing.check(conn, tokens)
        erased, batch.erased_seq = erased_after(conn, batch.erased_seq)
        batch.drop_users(erased)
        fence(conn, expected)
        if writer.generation is not None:
            _check_generation(conn, writer.generation)
        for erase in batch.erasures.values():
            erase_user_rows(conn, erase, (purges or {}).get(erase.user_id, {}))
        for scope in batch.session_erasures.values():
            erase_session_rows(conn, scope, (purges or {}).get(scope.user_id, {}))
        staged = _stage(conn, batch, tables)
        drop_erased_sessions(conn)
        for name in staged:
            _merge(conn, name, tables, batch)
        store(conn, advance, writer.epochs)


def _merge(conn: psycopg.Connection[Any], name: str, tables: Tables, batch: Batch) -> None:
    """Merge one staged read table; the overview's rollups follow visits and maps."""
    if name == "page_visits":
        physical = tables.get(name, name)
        restage = partial(restage_visits, conn, batch, physical)  # entries of rows, per visit
        merge_visits(conn, tables, _UPSERT[name], restage)  # new rows by plain insert
    elif name == "urls":
        conn.execute(_LOCK_URL_KEYS, (URL_LOCK,))  # URL rows are shared across partitions
        conn.execute(with_tables(_UPSERT[name], tables))
    elif name == "mindmap_graphs":
        conn.execute(with_tables(_UPSERT[name], tables))
        rebuild_staged_branches(conn, tables)
    else:
        conn.execute(with_tables(_UPSERT[name], tables))


def lock_projections(
    conn: psycopg.Connection[Any], names: set[str], *, shared: bool = False
) -> None:
    """Serialize writers of the same projections until the transaction ends.

    Checkpoint rows alone cannot fence a partition's first write (there is no row to
    lock yet), so two writers outside a projector group would both insert the same new
    rows: they take it exclusively. A group's replicas fold disjoint partitions fenced
    by their tokens (:mod:`projector.fencing`) and take it ``shared``: they commit in
    parallel, and a replay about to swap (exclusive) still waits for them and they for
    it. Taken before any other lock of the transaction: a writer waiting here holds
    nothing, so a replay holding it (:func:`projector.replay.replay`) can still take
    the erasure lock for its own writes without a deadlock.
    """
    lock = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    for name in sorted(names):
        conn.execute(f"SELECT {lock}(%s, hashtext(%s))", (PROJECTION_LOCK, name))  # type: ignore[arg-type]


def _check_generation(conn: psycopg.Connection[Any], expected: int) -> None:
    """Raise :class:`CheckpointMoved` when a derivation other than ``expected`` is in force.

    Called inside a fold's transaction after its checkpoint rows are locked: a
    writer that folded with an older cutover must reload and fold again.
    """
    row = conn.execute("SELECT coalesce(max(generation), 0) FROM derivations").fetchone()
    current = int(row[0]) if row else 0
    if current != expected:
        raise CheckpointMoved(f"derivation {current} swapped in (folded with {expected})")
