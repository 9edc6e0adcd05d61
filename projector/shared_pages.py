"""Shared page versions outlive the erasure of one of their readers.

A ``urls`` row (one URL version: summary, tags, topic) and its ``page_texts`` row are
stored once for everyone who read that version; the row names its first discoverer. An
erasure used to delete every row its user discovered, so another reader's timeline lost
the summary and their search no longer found the page at all (it starts from the
``urls`` row of each version the user read): any account could wipe pages out of other
users' history by reading them first and then erasing itself or the session.

Who else reads a version comes from ``page_titles`` (the per-user rollup of
``page_visits``, indexed by version: migration 261). An erased user's row that another
user still reads is handed over to the smallest such user id, with that user's own
first visit as ``first_seen_at`` and no ``lang`` (the erased user's claim); nothing else
on the row came from the erased user alone (the URL is the normalized one every reader
of the version shares, the title is always empty, the enrichment comes from the URL and
the verified text). What only the erased user read is deleted as before.

The archive follows (:func:`hand_over_archive`), so a replay rebuilds the handed-over
rows: the erased user's ``url.discovered`` and ``url.enriched`` events of those versions
are kept, re-attributed to the heir (same changes as the row, and without the erased
user's tab title, which the discovery carries but no shared row keeps), in an archive
row of the heir's; the rest of the erased user's archive is deleted as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
import psycopg
from psycopg import sql

from schema.derived import UrlDiscovered, UrlEnriched
from schema.log import DerivedEntry, decode_derived_entry, encode_derived_entry
from schema.topics import URLS_TOPIC

__all__ = ["Heirs", "hand_over_archive", "hand_over_read_pages", "read_by_others"]

Heirs = Mapping[tuple[str, str], tuple[str, int | None]]
"""(url_hash, content_hash) → (the user it was handed to, their first visit, Unix ms)."""

_HAND_OVER = """
UPDATE {urls} u SET user_id = h.heir, lang = '',
       first_seen_at = coalesce(h.seen, u.first_seen_at)
FROM (
    SELECT mine.url_hash, mine.content_hash, heir.user_id AS heir,
           (SELECT min(v.start_at) FROM {visits} v
            WHERE v.user_id = heir.user_id AND v.url_hash = mine.url_hash
              AND v.content_hash = mine.content_hash) AS seen
    FROM {urls} mine
    CROSS JOIN LATERAL (
        SELECT t.user_id FROM {titles} t
        WHERE t.url_hash = mine.url_hash AND t.content_hash = mine.content_hash
          AND t.user_id <> %(user)s
        ORDER BY t.user_id LIMIT 1
    ) heir
    WHERE mine.user_id = %(user)s
) h
WHERE u.url_hash = h.url_hash AND u.content_hash = h.content_hash
RETURNING u.url_hash, u.content_hash, u.user_id::text,
          (extract(epoch FROM u.first_seen_at) * 1000)::bigint
"""

READ_BY_OTHERS = (
    "EXISTS (SELECT 1 FROM {titles} o WHERE o.url_hash = {h} AND o.content_hash = {c}"
    " AND o.user_id <> %(user)s)"
)
"""SQL condition: a user other than ``%(user)s`` reads the version ``({h}, {c})``."""


def read_by_others(titles: str, url_hash: str, content_hash: str) -> sql.Composed:
    """:data:`READ_BY_OTHERS` for the ``page_titles`` table ``titles`` and the given
    column expressions (trusted SQL, e.g. ``p.h``)."""
    return sql.SQL(READ_BY_OTHERS).format(
        titles=sql.Identifier(titles), h=sql.SQL(url_hash), c=sql.SQL(content_hash)
    )


def hand_over_read_pages(
    conn: psycopg.Connection[Any], user_id: str, *, urls: str, visits: str, titles: str
) -> dict[tuple[str, str], tuple[str, int | None]]:
    """Hand the ``urls`` rows ``user_id`` discovered and other users still read over to one
    of them (inside the caller's transaction, before the user's rows are deleted); return
    who got which (:data:`Heirs`). ``urls``, ``visits`` and ``titles`` name the tables
    (live or shadow)."""
    query = sql.SQL(_HAND_OVER).format(
        urls=sql.Identifier(urls), visits=sql.Identifier(visits), titles=sql.Identifier(titles)
    )
    rows = conn.execute(query, {"user": user_id}).fetchall()
    return {(h, c): (heir, seen) for h, c, heir, seen in rows}


def handed_events(entry: DerivedEntry, heirs: Heirs) -> dict[str, DerivedEntry]:
    """The events of ``entry`` about handed-over versions, re-attributed, by heir (pure)."""
    out: dict[str, list[Any]] = {}
    for event in entry.events:
        if not isinstance(event, UrlDiscovered | UrlEnriched):
            continue
        found = heirs.get((event.url_hash, event.content_hash))
        if found is None:
            continue
        heir, seen = found
        if isinstance(event, UrlDiscovered):
            moved: Any = msgspec.structs.replace(
                event,
                user_id=heir,
                title="",  # the erased user's tab title (never on the shared row either)
                lang="",
                first_seen_ts=event.first_seen_ts if seen is None else seen,
            )
        else:
            moved = msgspec.structs.replace(event, user_id=heir)
        out.setdefault(heir, []).append(moved)
    return {heir: msgspec.structs.replace(entry, events=ev) for heir, ev in out.items()}


_THIS_PART = (
    ' WHERE topic = %(topic)s AND partition = %(p)s AND "offset" = %(o)s'
    " AND part = %(part)s AND logged_at = %(at)s"
)
_NEXT_PART = (
    'INSERT INTO event_log (topic, partition, "offset", part, user_id, logged_at, key,'
    " value, headers)"
    ' SELECT topic, partition, "offset", (SELECT max(part) + 1 FROM event_log'
    ' WHERE topic = %(topic)s AND partition = %(p)s AND "offset" = %(o)s'
    " AND logged_at = %(at)s), %(user)s, logged_at, key, %(value)s, headers"
    " FROM event_log" + _THIS_PART
)
"""A further part of an archived entry (same key and headers), for another heir."""


def hand_over_archive(conn: psycopg.Connection[Any], user_id: str, heirs: Heirs) -> int:
    """Move the erased user's archived events of handed-over versions to their heirs
    (inside the erasure's transaction, before the user's archive rows are deleted);
    return the archive rows written.

    Steps, per archive row of the user in the urls topic (``event_log`` and re-derived
    ``derived_log``) holding such events: the first heir takes the row over (its user
    and value rewritten to hold only their events); each further heir gets a new row
    beside it (``event_log``: the next ``part`` of the same entry; ``derived_log``: the
    next ``seq`` of its partition, url events merge in any order). The user's other
    rows are left for the erasure to delete.
    """
    if not heirs:
        return 0
    written = 0
    for row in conn.execute(
        'SELECT partition, "offset", part, logged_at, value FROM event_log'
        " WHERE user_id = %s AND topic = %s",
        (user_id, URLS_TOPIC),
    ).fetchall():
        partition, offset, part, logged_at, value = row
        where = {"topic": URLS_TOPIC, "p": partition, "o": offset, "part": part, "at": logged_at}
        moved = handed_events(decode_derived_entry(bytes(value)), heirs)
        for i, (heir, entry) in enumerate(sorted(moved.items())):
            encoded = encode_derived_entry(entry)
            if i == 0:
                conn.execute(
                    "UPDATE event_log SET user_id = %(user)s, value = %(value)s" + _THIS_PART,
                    {**where, "user": heir, "value": encoded},
                )
            else:
                conn.execute(_NEXT_PART, {**where, "user": heir, "value": encoded})
            written += 1
    for row in conn.execute(
        "SELECT generation, partition, seq, origin, logged_at, value FROM derived_log"
        " WHERE user_id = %s AND topic = %s",
        (user_id, URLS_TOPIC),
    ).fetchall():
        generation, partition, seq, origin, logged_at, value = row
        moved = handed_events(decode_derived_entry(bytes(value)), heirs)
        for i, (heir, entry) in enumerate(sorted(moved.items())):
            encoded = encode_derived_entry(entry)
            if i == 0:
                conn.execute(
                    "UPDATE derived_log SET user_id = %s, value = %s WHERE generation = %s"
                    " AND topic = %s AND partition = %s AND seq = %s",
                    (heir, encoded, generation, URLS_TOPIC, partition, seq),
                )
            else:
                conn.execute(
                    "INSERT INTO derived_log (generation, topic, partition, seq, origin,"
                    " user_id, logged_at, value) SELECT %s, %s, %s, max(seq) + 1, %s, %s, %s, %s"
                    " FROM derived_log WHERE generation = %s AND topic = %s AND partition = %s",
                    (generation, URLS_TOPIC, partition, origin, heir, logged_at, encoded,
                     generation, URLS_TOPIC, partition),
                )  # fmt: skip
            written += 1
    return written
