"""Erasing one session: the session scope of the erasure path (the adapter side).

A :class:`projector.rows.EraseSession` comes from a ``SessionErased`` event (the user
deleted a session in the dashboard, or retention expired it). It is applied inside
the batch's transaction, holding the erasure lock exclusively, like a user erasure:

1. record the tombstone in ``erased_sessions`` (every later fold drops the session's
   staged rows against it: :func:`drop_erased_sessions`). It names the session by
   :func:`tombstone_key` (a hash), not its id: a UUIDv7 id tells when the session began;
2. note the session's time span and pages, drain the overview's pending changes
   (:func:`projector.overview.drain_changes`: the rollups then hold the session's whole
   share and no pending change of it is left to add back later), take its share out of
   the overview's rollups, then delete its rows from ``sessions``, ``page_visits``,
   ``mindmap_graphs`` and the user's rename (live and shadow tables);
3. delete the URL versions this user discovered that no remaining visit of theirs
   references, and page texts no URL row references any more;
4. rewrite the user's archived entries (``event_log``, ``derived_log``) around the
   session's span without its events (and without the discoveries of step 3),
   deleting an entry that is left empty;
5. mark the deletion request done and record the Redis purges owed (hot entries are
   head-trimmed once every reader has passed them, as for a user erasure).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Container, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import msgspec
import psycopg
from psycopg import sql

from mindhit.visit_rows import select_rows
from projector.overview import OVERVIEW_TABLES, drain_changes, subtract_session
from projector.rows import EraseSession
from projector.shared_pages import read_by_others
from schema.derived import (
    DerivedEvent,
    SessionErased,
    UrlDiscovered,
    UrlEnriched,
    VisitRows,
    VisitsClosed,
)
from schema.log import (
    DerivedEntry,
    LogEntryError,
    RawEntry,
    decode_derived_entry,
    decode_raw_entry,
    encode_derived_entry,
    encode_raw_entry,
)
from schema.topics import RAW_TOPIC
from schema.visits import columns_agree, select_visits

__all__ = [
    "SESSION_SCOPED",
    "TombstoneKeys",
    "drop_erased_sessions",
    "erase_session_rows",
    "record_purges",
    "strip_sessions",
    "tombstone_key",
]

SESSION_SCOPED = {
    "sessions": "tmp_sessions",
    "page_visits": "tmp_visits",
    "mindmap_graphs": "tmp_mindmaps",
}
"""Read table → its staging table: rows keyed by (user_id, session_id)."""

_SLACK = timedelta(days=1)
"""Archive rows are searched this far around the session's span (clock skew, late work)."""


def tombstone_key(session_id: str) -> str:
    """How ``erased_sessions`` names an erased session: the first 16 bytes of the SHA-256
    of its id (canonical text) as a UUID, as SQL's ``erased_session_key`` (migration 264).
    Not a valid id: ``ValueError``."""
    canonical = str(uuid.UUID(session_id))
    return str(uuid.UUID(bytes=hashlib.sha256(canonical.encode()).digest()[:16]))


class TombstoneKeys:
    """A user's erased sessions as their tombstones name them; ``id in keys`` takes a
    session id (a tombstone an older projector wrote, naming the id itself, counts too)."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = frozenset(keys)

    def __contains__(self, session_id: object) -> bool:
        if not isinstance(session_id, str):
            return False
        if session_id in self._keys:
            return True
        try:
            return tombstone_key(session_id) in self._keys
        except ValueError:
            return False


def drop_erased_sessions(conn: psycopg.Connection[Any]) -> set[tuple[str, str]]:
    """Drop staged rows of erased sessions (inside the batch's transaction, before merging).

    Returns (user id, session id) of the sessions whose rows it dropped, as text (the
    visits' staging holds them as ``uuid``: their canonical text).
    """
    dropped: set[tuple[str, str]] = set()
    for staging in SESSION_SCOPED.values():
        rows = conn.execute(
            sql.SQL(
                "DELETE FROM {t} t USING erased_sessions e"
                " WHERE e.user_id = t.user_id::uuid AND e.session_id IN"
                " (erased_session_key(t.session_id::uuid), t.session_id::uuid)"
                " RETURNING t.user_id::text, t.session_id::text"
            ).format(t=sql.Identifier(staging))
        ).fetchall()
        dropped.update(rows)
    return dropped


def _existing(conn: psycopg.Connection[Any], names: list[str]) -> list[str]:
    return [n for n in names if conn.execute("SELECT to_regclass(%s)", (n,)).fetchone() != (None,)]


def _span(
    conn: psycopg.Connection[Any], params: dict[str, Any]
) -> tuple[datetime | None, datetime | None]:
    row = conn.execute(
        "SELECT least(min(s.started_at), min(v.start_at)),"
        " greatest(max(s.stopped_at), max(s.last_event_at), max(v.end_at), max(m.built_at))"
        " FROM (SELECT 1) one"
        " LEFT JOIN sessions s ON s.user_id = %(user)s AND s.session_id = %(session)s"
        " LEFT JOIN page_visits v ON v.user_id = %(user)s AND v.session_id = %(session)s"
        " LEFT JOIN mindmap_graphs m ON m.user_id = %(user)s AND m.session_id = %(session)s",
        params,
    ).fetchone()
    return (row[0], row[1]) if row else (None, None)


def erase_session_rows(
    conn: psycopg.Connection[Any],
    erase: EraseSession,
    purges: Mapping[str, int],
    *,
    suffixes: tuple[str, ...] = ("", "__shadow"),
) -> int:
    """Erase one session inside the caller's transaction (steps in the module docstring).

    Returns the number of rows deleted or rewritten.
    """
    params = {"user": erase.user_id, "session": erase.session_id, "reason": erase.reason}
    conn.execute(
        "INSERT INTO erased_sessions (user_id, session_id, reason)"
        " VALUES (%(user)s, erased_session_key(%(session)s::uuid), %(reason)s)"
        " ON CONFLICT DO NOTHING",
        params,
    )
    began, ended = _span(conn, params)
    drain_changes(conn)  # live: the rollups then sum every visit (who else reads a page too)
    pages = conn.execute(
        "SELECT DISTINCT url_hash, content_hash FROM page_visits"
        " WHERE user_id = %(user)s AND session_id = %(session)s",
        params,
    ).fetchall()
    deleted = 0
    for suffix in suffixes:
        rollups = ("page_visits", "mindmap_graphs", *OVERVIEW_TABLES, "overview_branches")
        present = {t: t + suffix for t in rollups if _existing(conn, [t + suffix])}
        subtract_session(conn, present, erase.user_id, erase.session_id)
        for table in _existing(conn, [t + suffix for t in SESSION_SCOPED]):
            deleted += conn.execute(
                sql.SQL(
                    "DELETE FROM {} WHERE user_id = %(user)s AND session_id = %(session)s"
                ).format(sql.Identifier(table)),
                params,
            ).rowcount
    conn.execute(
        "DELETE FROM session_labels WHERE user_id = %(user)s AND session_id = %(session)s", params
    )
    orphans = _drop_orphaned_pages(conn, erase.user_id, pages, suffixes)
    deleted += len(orphans)
    if began is not None:
        deleted += _rewrite_archive(conn, erase, orphans, began - _SLACK, (ended or began) + _SLACK)
    conn.execute(
        "UPDATE session_deletions SET state = 'done'"
        " WHERE user_id = %(user)s AND session_id = %(session)s AND state <> 'cancelled'",
        params,
    )
    record_purges(conn, erase.user_id, purges)
    return deleted


def record_purges(conn: psycopg.Connection[Any], user_id: str, purges: Mapping[str, int]) -> None:
    """Record the Redis purges an erasure owes: stream → trim below this offset (retention
    trims once every reader has passed it)."""
    for stream, offset in purges.items():
        conn.execute(
            "INSERT INTO erasure_purges (user_id, stream, up_to_offset) VALUES (%s, %s, %s)"
            " ON CONFLICT (user_id, stream) DO UPDATE SET"
            " up_to_offset = GREATEST(erasure_purges.up_to_offset, EXCLUDED.up_to_offset),"
            " done_at = NULL",
            (user_id, stream, offset),
        )


def _drop_orphaned_pages(
    conn: psycopg.Connection[Any],
    user_id: str,
    pages: list[tuple[str, str]],
    suffixes: tuple[str, ...],
) -> set[tuple[str, str]]:
    """Delete URL versions this user discovered and nobody visits any more (another
    user's page stays: :mod:`projector.shared_pages`); then orphaned texts."""
    if not pages:
        return set()
    gone: set[tuple[str, str]] = set()
    for suffix in suffixes:
        names = _existing(
            conn,
            [
                "urls" + suffix,
                "page_texts" + suffix,
                "page_visits" + suffix,
                "page_titles" + suffix,
            ],
        )
        if len(names) < 4:
            continue
        urls, texts, visits = (sql.Identifier(n) for n in names[:3])
        rows = conn.execute(
            sql.SQL(
                "DELETE FROM {u} u USING unnest(%(h)s::text[], %(c)s::text[]) AS p(h, c)"
                " WHERE u.url_hash = p.h AND u.content_hash = p.c AND u.user_id = %(user)s"
                " AND NOT EXISTS (SELECT 1 FROM {v} v WHERE v.user_id = %(user)s"
                " AND v.url_hash = p.h AND v.content_hash = p.c) AND NOT {others}"
                " RETURNING u.url_hash, u.content_hash"
            ).format(u=urls, v=visits, others=read_by_others(names[3], "p.h", "p.c")),
            {"h": [p[0] for p in pages], "c": [p[1] for p in pages], "user": user_id},
        ).fetchall()
        gone.update((r[0], r[1]) for r in rows)
        conn.execute(
            sql.SQL(
                "DELETE FROM {t} t WHERE t.content_hash = ANY(%(c)s)"
                " AND NOT EXISTS (SELECT 1 FROM {u} u WHERE u.content_hash = t.content_hash)"
            ).format(t=texts, u=urls),
            {"c": sorted({c for _, c in rows if c})},
        )
    return gone


def _keep_raw(entry: RawEntry, sessions: Container[str]) -> RawEntry:
    uploads = []
    for upload in entry.uploads:
        events = [e for e in upload.events if e.session_id not in sessions]
        if events:
            uploads.append(upload if len(events) == len(upload.events) else _with(upload, events))
    return RawEntry(uploads=uploads)


def _with(upload: Any, events: list[Any]) -> Any:
    return msgspec.structs.replace(upload, events=events)


def _keep_derived(
    entry: DerivedEntry, sessions: Container[str], orphans: set[tuple[str, str]]
) -> DerivedEntry:
    kept: list[DerivedEvent] = []
    for event in entry.events:
        if isinstance(event, VisitsClosed):  # columns: keep the other sessions' visits
            if (visits := _other_sessions(event, sessions)) is not None:
                kept.append(visits)
            continue
        if isinstance(event, VisitRows):  # COPY rows: the same, decoded and encoded again
            if (rows := select_rows(event, sessions)) is not None:
                kept.append(rows)
            continue
        if getattr(event, "session_id", None) in sessions and not isinstance(event, SessionErased):
            continue
        if (
            isinstance(event, (UrlDiscovered, UrlEnriched))
            and (event.url_hash, event.content_hash) in orphans
        ):
            continue
        kept.append(event)
    return DerivedEntry(events=kept, origin=entry.origin, received_at=entry.received_at)


def _other_sessions(event: VisitsClosed, sessions: Container[str]) -> VisitsClosed | None:
    if not columns_agree(event):
        return None  # the fold rejects every visit of it: nothing of it stays either
    return select_visits(event, [s not in sessions for s in event.session_id])


def _rewrite_archive(
    conn: psycopg.Connection[Any],
    erase: EraseSession,
    orphans: set[tuple[str, str]],
    lo: datetime,
    hi: datetime,
) -> int:
    """Remove the session's events from the user's archived entries in ``[lo, hi]``."""
    changed = 0
    window = {"user": erase.user_id, "lo": lo, "hi": hi}
    rows = conn.execute(
        'SELECT tableoid::regclass::text, topic, partition, "offset", part, logged_at, value'
        " FROM event_log WHERE user_id = %(user)s AND logged_at BETWEEN %(lo)s AND %(hi)s",
        window,
    ).fetchall()
    for table, topic, partition, offset, part, logged_at, value in rows:
        new = _filtered(topic, bytes(value), frozenset([erase.session_id]), orphans)
        if new == bytes(value):
            continue
        key = (topic, partition, offset, part, logged_at)
        where = (
            ' WHERE topic = %s AND partition = %s AND "offset" = %s AND part = %s'
            " AND logged_at = %s"
        )
        if new is None:
            conn.execute(sql.SQL("DELETE FROM {}" + where).format(sql.Identifier(table)), key)
        else:
            conn.execute(
                sql.SQL("UPDATE {} SET value = %s" + where).format(sql.Identifier(table)),
                (new, *key),
            )
        changed += 1
    derived = conn.execute(
        "SELECT generation, topic, partition, seq, value FROM derived_log"
        " WHERE user_id = %(user)s AND logged_at BETWEEN %(lo)s AND %(hi)s",
        window,
    ).fetchall()
    for generation, topic, partition, seq, value in derived:
        new = _filtered(topic, bytes(value), frozenset([erase.session_id]), orphans)
        if new == bytes(value):
            continue
        key2 = (generation, topic, partition, seq)
        where2 = " WHERE generation = %s AND topic = %s AND partition = %s AND seq = %s"
        if new is None:
            conn.execute("DELETE FROM derived_log" + where2, key2)
        else:
            conn.execute("UPDATE derived_log SET value = %s" + where2, (new, *key2))
        changed += 1
    return changed


def strip_sessions(topic: str, value: bytes, sessions: Container[str]) -> bytes | None:
    """An archive row's value without the events of ``sessions`` (the archiver calls this
    for users with erased sessions; ``None``: nothing is left to archive)."""
    return _filtered(topic, value, sessions, set())


def _filtered(
    topic: str, value: bytes, sessions: Container[str], orphans: set[tuple[str, str]]
) -> bytes | None:
    """``value`` without the session's events (``None``: nothing left; same bytes: untouched)."""
    try:
        if topic == RAW_TOPIC:
            raw = decode_raw_entry(value)
            kept_raw = _keep_raw(raw, sessions)
            if kept_raw == raw:
                return value
            return encode_raw_entry(kept_raw) if kept_raw.uploads else None
        entry = decode_derived_entry(value)
        kept = _keep_derived(entry, sessions, orphans)
        if len(kept.events) == len(entry.events):
            return value
        return encode_derived_entry(kept) if kept.events else None
    except LogEntryError:
        return value
