"""After "erase all my data", no table of the user's history names them any more.

Every table with a ``user_id`` column is checked, found from the catalogue (so a table
added later is checked too); only the account itself and what erasure must keep are
allowed to name the user: the account and its sign-in state, the tombstones that keep
late events out, and the purges the erasure still owes. The deletions the user asked for
before (``session_deletions``: which sessions, when, why) were left behind.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from projector.pg import ensure_temp_tables, erase_user_rows
from projector.rows import EraseUser
from schema.derived import SessionErased, UserErased
from schema.log import DerivedEntry

from .test_shared_page_erasure import ERASED, T0, _apply, _setup

pytestmark = pytest.mark.integration

KEPT = {
    "users": "the account stays (the user can sign in again)",
    "user_settings": "the block list stays (what must never be recorded); the rest reset",
    "device_tokens": "deleted by the dashboard's erasure; kept by mindhit erase --keep-account",
    "web_sessions": "ended by the dashboard",
    "account_links": "account mail links",
    "erased_users": "the tombstone: events received up to the cut stay out",
    "erased_sessions": "session tombstones (a hash of each id), keep late events out",
    "erasure_purges": "the Redis trims still owed",
}


def _naming_tables(pg: psycopg.Connection[Any]) -> list[str]:
    rows = pg.execute(
        "SELECT c.table_name FROM information_schema.columns c"
        " JOIN information_schema.tables t USING (table_schema, table_name)"
        " WHERE c.column_name = 'user_id' AND c.table_schema = 'public'"
        " AND t.table_type = 'BASE TABLE' AND c.table_name NOT LIKE 'event_log\\_%'"
        " ORDER BY 1"
    ).fetchall()
    pg.commit()
    return [r[0] for r in rows if r[0] not in KEPT]


def test_no_table_of_the_users_history_names_them_after_erasure(
    pg: psycopg.Connection[Any],
) -> None:
    ensure_temp_tables(pg)
    pg.execute(
        "INSERT INTO users (user_id, email) VALUES (%s, 'residue@x.org') ON CONFLICT DO NOTHING",
        (ERASED,),
    )
    first, _ = _setup(pg)
    now = datetime.fromtimestamp(T0 / 1000, UTC)
    pg.execute(
        "INSERT INTO session_deletions (user_id, session_id, requested_at, due_at)"
        " VALUES (%s, %s, %s, %s)",
        (ERASED, first, now, now + timedelta(hours=1)),
    )
    pg.execute(
        "INSERT INTO session_labels (user_id, session_id, label, renamed_at)"
        " VALUES (%s, %s, %s, %s)",
        (ERASED, first, "trip to the vet", now),
    )
    pg.commit()
    tables = _naming_tables(pg)
    assert {"session_deletions", "page_visits", "urls"} <= set(tables)
    _apply(pg, DerivedEntry(events=[UserErased(user_id=ERASED, ts=T0 + 7_200_000)]))
    left = {}
    for table in tables:
        row = pg.execute(f"SELECT count(*) FROM {table} WHERE user_id = %s", (ERASED,)).fetchone()
        if row and row[0]:
            left[table] = row[0]
    pg.commit()
    assert left == {}


def test_deleting_the_account_leaves_no_session_tombstone(pg: psycopg.Connection[Any]) -> None:
    """``mindhit erase`` (the account goes too): nothing of theirs can arrive any more, so
    the tombstones of the sessions they had deleted go with it."""
    ensure_temp_tables(pg)
    pg.execute(
        "INSERT INTO users (user_id, email) VALUES (%s, 'gone@x.org') ON CONFLICT DO NOTHING",
        (ERASED,),
    )
    first, _ = _setup(pg)
    pg.commit()
    _apply(pg, DerivedEntry(events=[SessionErased(user_id=ERASED, session_id=first, ts=T0 + 1)]))
    count = "SELECT count(*) FROM erased_sessions WHERE user_id = %s"
    assert pg.execute(count, (ERASED,)).fetchone() == (1,)
    pg.commit()
    with pg.transaction():
        erase_user_rows(pg, EraseUser(user_id=ERASED, at=T0 + 7_200_000, delete_account=True), {})
    assert pg.execute(count, (ERASED,)).fetchone() == (0,)
    assert pg.execute("SELECT count(*) FROM users WHERE user_id = %s", (ERASED,)).fetchone() == (0,)
    pg.commit()
