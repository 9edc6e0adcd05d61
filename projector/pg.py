"""The PostgreSQL adapter: apply a batch of row operations and its checkpoint atomically.

The same code writes the live tables and replay's shadow tables: a :data:`Tables`
map names the physical table behind each logical one. SQL lives in ``sql/`` next
to this module, with ``{table}`` placeholders filled in as identifiers.

Erasure and folding are serialized by a PostgreSQL advisory lock: every batch
holds it shared for its transaction, an erasure holds it exclusively, so no batch
can re-insert rows of a user whose erasure committed meanwhile (the batch re-reads
``erased_users`` after taking the lock).
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any, Final

import psycopg
from psycopg import sql

from projector.erase_session import drop_erased_sessions, erase_session_rows, record_purges
from projector.folds import Batch
from projector.overview import (
    add_staged_visits,
    apply_changes,
    ensure_overview_temp,
    rebuild_staged_branches,
    rebuild_user,
)
from projector.projections import PROJECTIONS
from projector.rows import EraseUser

__all__ = [
    "ERASE_LOCK",
    "SHADOW_SUFFIX",
    "CheckpointMoved",
    "Checkpoints",
    "Tables",
    "apply_batch",
    "ensure_temp_tables",
    "erase_user_rows",
    "live_tables",
    "load_checkpoints",
    "load_erased",
    "lock_projections",
]

ERASE_LOCK: Final = 0x6D68_6572  # "mher": erasure vs. folding
PROJECTION_LOCK: Final = 0x6D68_7077  # "mhpw": one writer per projection at a time (two-key form)
SHADOW_SUFFIX: Final = "__shadow"
ALL_TABLES: Final = tuple(t for p in PROJECTIONS.values() for t in p.tables)

Tables = Mapping[str, str]
"""Logical read-table name → physical table name (live or shadow)."""

Checkpoints = dict[tuple[str, str, int], int]
"""(projection, topic, partition) → next offset."""


class CheckpointMoved(RuntimeError):
    """The stored checkpoint is not where this writer expected: someone else wrote it."""


def _sql(name: str) -> str:
    return resources.files("projector").joinpath("sql", name).read_text()


_TEMP = _sql("temp_tables.sql")
_UPSERT = {name: _sql(f"upsert_{name}.sql") for name in ("sessions", "urls", "visits", "mindmaps")}


def live_tables() -> dict[str, str]:
    """The identity map: every logical table is the live one."""
    return {t: t for t in ALL_TABLES}


def _fmt(text: str, tables: Tables) -> sql.Composed:
    return sql.SQL(text).format(**{k: sql.Identifier(v) for k, v in tables.items()})  # type: ignore[arg-type]


def ensure_temp_tables(conn: psycopg.Connection[Any]) -> None:
    """Create the per-connection staging tables (idempotent)."""
    conn.execute(_TEMP)  # type: ignore[arg-type]
    ensure_overview_temp(conn)


def load_checkpoints(conn: psycopg.Connection[Any], projections: tuple[str, ...]) -> Checkpoints:
    """The stored checkpoints of ``projections``."""
    rows = conn.execute(
        "SELECT projection, topic, partition, next_offset FROM projection_checkpoints"
        " WHERE projection = ANY(%s)",
        (list(projections),),
    ).fetchall()
    return {(p, t, n): o for p, t, n, o in rows}


def load_erased(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Every erased user id → the erasure's cut (Unix ms; their events up to it are gone)."""
    rows = conn.execute(
        "SELECT user_id::text, (extract(epoch FROM erased_at) * 1000)::bigint FROM erased_users"
    ).fetchall()
    return {u: int(at) for u, at in rows}


_TYPES = {
    "tmp_sessions": ["text", "text", "text", "text", "int8", "int8", "int8", "text", "int8",
                     "text", "int8", "int4", "int4"],
    "tmp_urls": ["text", "text", "text", "bool", "text", "text", "text", "text", "int8", "text",
                 "text[]", "text", "text", "int8"],
    "tmp_texts": ["text", "text", "text"],
    "tmp_visits": ["text", "text", "text", "text", "int4", "text", "text", "text", "text", "text",
                   "int8", "int8", "int8", "text", "int8"],
    "tmp_mindmaps": ["text", "text", "text", "text", "int8"],
}  # fmt: skip


def _copy(
    conn: psycopg.Connection[Any], table: str, columns: str, rows: list[tuple[Any, ...]]
) -> None:
    query = f"COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"
    with conn.cursor().copy(query) as copy:  # type: ignore[arg-type]
        copy.set_types(_TYPES[table])
        for row in rows:
            copy.write_row(row)


_STAGING = ("tmp_sessions", "tmp_urls", "tmp_texts", "tmp_visits", "tmp_mindmaps")
_CLEAR_STAGING = "".join(f"DELETE FROM {t};" for t in _STAGING)


def _stage(conn: psycopg.Connection[Any], batch: Batch) -> None:
    # Staging tables empty at commit, but not at a savepoint: replay folds several
    # batches inside one transaction, so clear what an earlier batch left.
    conn.execute(_CLEAR_STAGING)
    if batch.sessions:
        _copy(
            conn,
            "tmp_sessions",
            "session_id, user_id, client_id, label, started_at, stopped_at, last_event_at,"
            " status, status_at, status_reason, active_ms, page_count, domain_count",
            [
                (p.session_id, p.user_id, p.client_id, p.label, p.started_at, p.stopped_at,
                 p.last_event_at, p.status, p.status_at, p.status_reason, p.active_ms,
                 p.page_count, p.domain_count)
                for p in batch.sessions.values()
            ],
        )  # fmt: skip
    if batch.urls:
        _copy(
            conn,
            "tmp_urls",
            "url_hash, content_hash, user_id, discovered, url, title, domain, lang,"
            " first_seen_at, summary, tags, topic, provider, enriched_at",
            [
                (u.url_hash, u.content_hash, u.user_id, u.discovered, u.url, u.title, u.domain,
                 u.lang, u.first_seen_at, u.summary, u.tags, u.topic, u.provider, u.enriched_at)
                for u in batch.urls.values()
            ],
        )  # fmt: skip
    if batch.texts:
        _copy(
            conn,
            "tmp_texts",
            "content_hash, lang, text",
            [(t.content_hash, t.lang, t.text) for t in batch.texts.values()],
        )
    if batch.visits:
        _copy(
            conn,
            "tmp_visits",
            "visit_id, user_id, session_id, client_id, tab_id, url_hash, content_hash, url,"
            " title, domain, start_at, end_at, dwell_ms, end_reason, opened_seq",
            [
                (v.visit_id, v.user_id, v.session_id, v.client_id, v.tab_id, v.url_hash,
                 v.content_hash, v.url, v.title, v.domain, v.start_at, v.end_at, v.dwell_ms,
                 v.end_reason, v.opened_seq)
                for v in batch.visits.values()
            ],
        )  # fmt: skip
    if batch.mindmaps:
        _copy(
            conn,
            "tmp_mindmaps",
            "session_id, user_id, graph, provider, built_at",
            [
                (m.session_id, m.user_id, m.graph.decode(), m.provider, m.built_at)
                for m in batch.mindmaps.values()
            ],
        )


_CUT = "timestamptz 'epoch' + %(at)s * interval '1 ms'"
_ERASE_WHERE = {
    "sessions": f"user_id = %(user)s AND (started_at IS NULL OR started_at <= {_CUT})",
    "page_visits": f"user_id = %(user)s AND start_at <= {_CUT}",
    "mindmap_graphs": f"user_id = %(user)s AND (built_at <= {_CUT}"
    " OR NOT EXISTS (SELECT 1 FROM {sessions} s WHERE s.session_id = {t}.session_id))",
    "urls": f"user_id = %(user)s AND (first_seen_at IS NULL OR first_seen_at <= {_CUT})",
    # The overview's rollups are rebuilt from what is left (projector.overview).
    "overview_days": "false",
    "overview_domains": "false",
    "overview_pages": "false",
    "overview_domains_monthly": "false",
    "overview_pages_monthly": "false",
    "overview_branches": "false",
}


def erase_user_rows(
    conn: psycopg.Connection[Any],
    erase: EraseUser,
    purges: Mapping[str, int],
) -> int:
    """Erase one user up to ``erase.at`` inside the caller's transaction; return rows deleted.

    Steps: record the tombstone (its ``erased_at`` is the cut: the user's events up
    to it are skipped forever, later ones are projected again); delete the user's
    rows up to the cut from every read table and its shadow (if a replay is building
    one); delete page texts no remaining URL row references; delete the user's
    archive rows and re-derived entries up to the cut; delete the account when
    asked (``mindhit erase``);
    record the Redis purges owed (``purges``: stream key → trim below this offset).
    """
    params = {"user": erase.user_id, "at": erase.at}
    deleted = 0
    conn.execute(
        "INSERT INTO erased_users (user_id, erased_at, reason)"
        f" VALUES (%(user)s, {_CUT}, %(reason)s) ON CONFLICT (user_id) DO UPDATE SET"
        " erased_at = GREATEST(erased_users.erased_at, EXCLUDED.erased_at),"
        " reason = EXCLUDED.reason",
        {**params, "reason": erase.reason},
    )
    for suffix in ("", SHADOW_SUFFIX):
        names = {
            base: base + suffix
            for base in ALL_TABLES
            if conn.execute("SELECT to_regclass(%s)", (base + suffix,)).fetchone() != (None,)
        }
        hashes: list[str] = []
        if "urls" in names:
            query = sql.SQL("SELECT DISTINCT content_hash FROM {t} WHERE ").format(
                t=sql.Identifier(names["urls"])
            ) + sql.SQL(_ERASE_WHERE["urls"])
            hashes = [r[0] for r in conn.execute(query, params)]
        for base, name in names.items():
            if base == "page_texts":
                query = sql.SQL(
                    "DELETE FROM {t} p WHERE p.content_hash = ANY(%(hashes)s)"
                    " AND NOT EXISTS (SELECT 1 FROM {u} u WHERE u.content_hash = p.content_hash)"
                ).format(t=sql.Identifier(name), u=sql.Identifier(names["urls"]))
                deleted += conn.execute(query, {"hashes": hashes}).rowcount
                continue
            where = _ERASE_WHERE[base].replace("{sessions}", "{s}")
            query = sql.SQL("DELETE FROM {t} WHERE " + where).format(
                t=sql.Identifier(name),
                s=sql.Identifier(names.get("sessions", "sessions")),
            )
            deleted += conn.execute(query, params).rowcount
        rebuild_user(conn, names, erase.user_id)
    for log_table in ("event_log", "derived_log"):
        deleted += conn.execute(
            sql.SQL("DELETE FROM {} WHERE user_id = %(user)s AND logged_at <= " + _CUT).format(
                sql.Identifier(log_table)
            ),
            params,
        ).rowcount
    conn.execute("DELETE FROM session_labels WHERE user_id = %(user)s", params)
    if erase.delete_account:
        conn.execute("DELETE FROM users WHERE user_id = %(user)s", params)
    record_purges(conn, erase.user_id, purges)
    return deleted


def apply_batch(
    conn: psycopg.Connection[Any],
    batch: Batch,
    *,
    tables: Tables,
    expected: Checkpoints,
    advance: Checkpoints,
    purges: Mapping[str, Mapping[str, int]] | None = None,
    generation: int | None = None,
) -> None:
    """Apply ``batch`` and move the checkpoints from ``expected`` to ``advance``, atomically.

    Steps, in one transaction: take the erasure lock (exclusive when the batch
    erases someone, else shared); take the write lock of each projection the batch
    advances (two writers of one projection folding different topics or partitions
    would otherwise both insert the same new row); drop operations of users erased
    meanwhile;
    lock the checkpoint rows and check they still hold ``expected`` (else raise
    :class:`CheckpointMoved`: another writer or a replay swap moved them, or
    a rederive put a derivation other than ``generation`` in force); apply
    the erasures (users, then single sessions); stage the rows with COPY; drop staged
    rows of erased sessions; merge them into the tables; store the
    new checkpoints; commit. On any error nothing is written.
    """
    with conn.transaction():
        erasing = batch.erasures or batch.session_erasures
        lock = "pg_advisory_xact_lock" if erasing else "pg_advisory_xact_lock_shared"
        conn.execute(f"SELECT {lock}(%s)", (ERASE_LOCK,))  # type: ignore[arg-type]
        lock_projections(conn, {name for name, _, _ in advance})
        batch.drop_users(load_erased(conn))
        _fence(conn, expected)
        if generation is not None:
            _check_generation(conn, generation)
        for erase in batch.erasures.values():
            erase_user_rows(conn, erase, (purges or {}).get(erase.user_id, {}))
        for scope in batch.session_erasures.values():
            erase_session_rows(conn, scope, (purges or {}).get(scope.user_id, {}))
        _stage(conn, batch)
        drop_erased_sessions(conn)
        if batch.sessions:
            conn.execute(_fmt(_UPSERT["sessions"], tables))
        if batch.urls or batch.texts:
            conn.execute(_fmt(_UPSERT["urls"], tables))
        if batch.visits:
            add_staged_visits(conn, tables, -1)  # the overview's rollups follow page_visits
            conn.execute(_fmt(_UPSERT["visits"], tables))
            add_staged_visits(conn, tables, 1)
            apply_changes(conn, tables)
        if batch.mindmaps:
            conn.execute(_fmt(_UPSERT["mindmaps"], tables))
            rebuild_staged_branches(conn, tables)
        store_checkpoints(conn, advance)


def lock_projections(conn: psycopg.Connection[Any], names: set[str]) -> None:
    """Serialize writers of the same projections until the transaction ends.

    Checkpoint rows alone cannot fence a partition's first write (there is no row to
    lock yet), so two replicas would both insert the same new rows.
    """
    for name in sorted(names):
        conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (PROJECTION_LOCK, name))


def _fence(conn: psycopg.Connection[Any], expected: Checkpoints) -> None:
    if not expected:
        return
    keys = list(expected)
    rows = conn.execute(
        "SELECT projection, topic, partition, next_offset FROM projection_checkpoints"
        " WHERE (projection, topic, partition) IN"
        " (SELECT * FROM unnest(%s::text[], %s::text[], %s::int[]))"
        " FOR UPDATE",
        ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]),
    ).fetchall()
    stored = {(p, t, n): o for p, t, n, o in rows}
    for key, offset in expected.items():
        if stored.get(key, 0) != offset:
            raise CheckpointMoved(f"{key}: stored {stored.get(key, 0)}, expected {offset}")


def _check_generation(conn: psycopg.Connection[Any], expected: int) -> None:
    """Raise :class:`CheckpointMoved` when a derivation other than ``expected`` is in force.

    Called inside a fold's transaction after its checkpoint rows are locked: a
    writer that folded with an older cutover must reload and fold again.
    """
    row = conn.execute("SELECT coalesce(max(generation), 0) FROM derivations").fetchone()
    current = int(row[0]) if row else 0
    if current != expected:
        raise CheckpointMoved(f"derivation {current} swapped in (folded with {expected})")


def store_checkpoints(conn: psycopg.Connection[Any], advance: Checkpoints) -> None:
    """Upsert checkpoints inside the caller's transaction."""
    if not advance:
        return
    keys = list(advance)
    conn.execute(
        "INSERT INTO projection_checkpoints (projection, topic, partition, next_offset, updated_at)"
        " SELECT p, t, n, o, now() FROM unnest(%s::text[], %s::text[], %s::int[], %s::bigint[])"
        " AS x(p, t, n, o)"
        " ON CONFLICT (projection, topic, partition) DO UPDATE SET"
        " next_offset = EXCLUDED.next_offset, updated_at = EXCLUDED.updated_at",
        (
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [advance[k] for k in keys],
        ),
    )
