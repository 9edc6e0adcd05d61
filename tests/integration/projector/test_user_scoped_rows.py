"""Rows keyed by an id a client sent belong to one user: another user's rows never change them.

Visit, session and mind-map ids come from clients (or are derived from what they
send). Folded with the real adapter into the real tables: a second user's operation
on the same id neither rewrites the first user's row (nor its ``user_id``) nor
moves the first user's overview rollups; of two users sending the same new id in one
batch the first gets it (an existing row stays its owner's), instead of an error that
would wedge the projection.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from projector.overview_drainer import drain_all
from projector.pg import apply_batch, ensure_temp_tables, live_tables
from schema.derived import MindmapBuilt, MindmapNode, SessionStatusChanged, VisitClosed
from schema.events import SessionStarted
from schema.ids import uuid7
from schema.log import DerivedEntry, RawEntry, Upload
from tests.unit.projector.test_two_users_fold import fold_entries

pytestmark = pytest.mark.integration

VICTIM = "00000000-0000-7000-8000-00000000000a"
ATTACKER = "00000000-0000-7000-8000-00000000000b"
T0 = 1_767_000_000_000


def _visit(user: str, visit_id: str, session_id: str, url: str, dwell: int) -> VisitClosed:
    return VisitClosed(
        user_id=user, visit_id=visit_id, client_id="c1", session_id=session_id, tab_id=1,
        url=url, url_hash=url[-8:], domain="example.test", title="", start_ts=T0,
        end_ts=T0 + dwell, dwell_ms=dwell, opened_seq=1, end_reason="switch",
    )  # fmt: skip


def _apply(pg: psycopg.Connection[Any], *entries: RawEntry | DerivedEntry) -> None:
    batch = fold_entries(list(entries))
    apply_batch(pg, batch, tables=live_tables(), expected={}, advance={})
    drain_all(pg)  # the overview's rollups, as the projector's drainer keeps them


@pytest.fixture
def db(pg: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """The test database with this connection's staging tables."""
    ensure_temp_tables(pg)
    pg.commit()
    return pg


def _started(user: str, session_id: str, label: str) -> RawEntry:
    event = SessionStarted(
        event_id=uuid7(T0), client_id="c1", session_id=session_id, seq=1, ts=T0, label=label
    )
    upload = Upload(
        batch_id=uuid7(T0), user_id=user, client_id="c1", received_at=T0, events=[event]
    )
    return RawEntry(uploads=[upload])


def _rows(pg: psycopg.Connection[Any], sql: str) -> list[tuple[Any, ...]]:
    rows = pg.execute(sql).fetchall()
    pg.commit()
    return rows


def test_another_users_rows_with_the_victims_ids_change_nothing(
    db: psycopg.Connection[Any],
) -> None:
    pg = db
    session, visit = uuid7(T0), uuid7(T0 + 1)
    _apply(
        pg,
        _started(VICTIM, session, "mine"),
        DerivedEntry(
            events=[
                _visit(VICTIM, visit, session, "https://example.test/victim", 60_000),
                MindmapBuilt(
                    user_id=VICTIM, session_id=session, root=MindmapNode(label="Victim's map"),
                    provider="local", built_ts=T0 + 5,
                ),
            ]
        ),
    )  # fmt: skip
    before = {
        t: _rows(pg, f"SELECT * FROM {t} ORDER BY 1")
        for t in (
            "sessions",
            "page_visits",
            "mindmap_graphs",
            "overview_days",
            "overview_pages_monthly",
            "page_titles",
        )
    }
    # The attacker replays the victim's ids: a visit, the session (label, status) and its map.
    _apply(
        pg,
        _started(ATTACKER, session, "hijacked"),
        DerivedEntry(
            events=[
                _visit(ATTACKER, visit, session, "https://example.test/attack", 1_000),
                SessionStatusChanged(
                    user_id=ATTACKER, session_id=session, status="failed", ts=T0 + 99_000,
                    reason="attacker",
                ),
                MindmapBuilt(
                    user_id=ATTACKER, session_id=session, root=MindmapNode(label="Attacker's"),
                    provider="local", built_ts=T0 + 99_000,
                ),
            ]
        ),
    )  # fmt: skip
    after = {t: _rows(pg, f"SELECT * FROM {t} ORDER BY 1") for t in before}
    assert after == before
    owners = _rows(pg, "SELECT DISTINCT user_id::text FROM page_visits")
    assert owners == [(VICTIM,)]


def test_two_users_sending_one_new_id_in_one_batch_get_one_row(
    db: psycopg.Connection[Any],
) -> None:
    pg = db
    session, visit = uuid7(T0), uuid7(T0 + 1)
    _apply(
        pg,
        _started(ATTACKER, session, "theirs"),
        _started(VICTIM, session, "mine"),
        DerivedEntry(
            events=[
                _visit(ATTACKER, visit, session, "https://example.test/attack", 1_000),
                _visit(VICTIM, visit, session, "https://example.test/victim", 60_000),
            ]
        ),
    )
    # One owner per id (whoever sent it first), never an error.
    assert _rows(pg, "SELECT user_id::text, label FROM sessions") == [(ATTACKER, "theirs")]
    assert _rows(pg, "SELECT user_id::text, dwell_ms FROM page_visits") == [(ATTACKER, 1_000)]
    assert _rows(pg, "SELECT user_id::text, visits FROM overview_days") == [(ATTACKER, 1)]


def test_a_stored_owner_keeps_a_row_another_user_names_first_in_a_batch(
    db: psycopg.Connection[Any],
) -> None:
    pg = db
    session = uuid7(T0)
    _apply(pg, _started(VICTIM, session, "mine"))
    stop = SessionStatusChanged(
        user_id=VICTIM, session_id=session, status="completed", ts=T0 + 9_000
    )
    hijack = SessionStatusChanged(
        user_id=ATTACKER, session_id=session, status="failed", ts=T0 + 99_000
    )
    _apply(pg, _started(ATTACKER, session, "hijacked"), DerivedEntry(events=[hijack, stop]))
    assert _rows(pg, "SELECT user_id::text, label, status FROM sessions") == [
        (VICTIM, "mine", "completed")
    ]
