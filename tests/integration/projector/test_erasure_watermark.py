"""A projector batch sees every erasure committed while it folded, reading only the new ones.

Each batch used to read the whole ``erased_users`` table inside its transaction. It now
reads the erasures numbered after the last one its projector saw (migration 240). What a
user notices must not change: rows of a user erased while the batch was folding are not
written, a second erasure of the same user (a later cut) is seen like the first, and what
the user records after an erasure shows again.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from projector.folds import Batch
from projector.pg import (
    ERASE_LOCK,
    apply_batch,
    ensure_temp_tables,
    erase_user_rows,
    erased_after,
    live_tables,
)
from projector.rows import EraseUser
from schema.derived import VisitClosed
from schema.ids import uuid7
from schema.log import DerivedEntry

pytestmark = pytest.mark.integration

ERASED = "00000000-0000-7000-8000-0000000000e1"
KEPT = "00000000-0000-7000-8000-0000000000e2"
T0 = 1_767_000_000_000


Seen = tuple[dict[str, int], int]
"""Erased users → cut, and the last erasure number read."""


def _batch(seen: Seen, *visits: tuple[str, int]) -> tuple[Batch, dict[str, str]]:
    """A batch folded from one visit per (user, start time), knowing the erasures ``seen``."""
    batch = Batch(*seen)
    ids = {}
    events = []
    for user, ts in visits:
        visit = ids[f"{user}@{ts}"] = uuid7(ts)
        event = VisitClosed(
            user_id=user, visit_id=visit, client_id="c1", session_id=uuid7(T0), tab_id=1,
            url=f"https://example.test/{ts}", url_hash=f"{ts:08x}"[-8:], domain="example.test",
            title="", start_ts=ts, end_ts=ts + 1_000, dwell_ms=1_000, opened_seq=1,
            end_reason="switch",
        )  # fmt: skip
        events.append(event)
    received = max(ts for _, ts in visits) + 1_000  # when the gateway got them
    batch.add_derived(DerivedEntry(events=events, received_at=received))
    return batch, ids


def _erase(database_url: str, user: str, at: int) -> None:
    """Erase ``user`` up to ``at`` from another connection, as ``mindhit erase`` does."""
    with psycopg.connect(database_url) as other, other.transaction():
        other.execute("SELECT pg_advisory_xact_lock(%s)", (ERASE_LOCK,))
        erase_user_rows(other, EraseUser(user_id=user, at=at), {})


def _visits(pg: psycopg.Connection[Any]) -> set[str]:
    rows = pg.execute("SELECT visit_id::text FROM page_visits").fetchall()
    pg.commit()
    return {r[0] for r in rows}


def test_erasures_committed_while_folding_are_seen_and_only_new_ones_read(
    pg: psycopg.Connection[Any], database_url: str
) -> None:
    ensure_temp_tables(pg)
    pg.commit()
    seen = erased_after(pg, 0)
    pg.commit()

    # Erased while the batch folds: the user's visit is not written, the other user's is.
    batch, ids = _batch(seen, (ERASED, T0), (KEPT, T0))
    _erase(database_url, ERASED, T0 + 10_000)
    apply_batch(pg, batch, tables=live_tables(), expected={}, advance={})
    assert _visits(pg) == {ids[f"{KEPT}@{T0}"]}
    assert batch.erased[ERASED] == T0 + 10_000 and batch.erased_seq > seen[1]
    # The next read finds nothing new: it does not read the table again.
    assert erased_after(pg, batch.erased_seq) == ({}, batch.erased_seq)
    pg.commit()

    # Erased again (a later cut) while the next batch folds: seen like the first.
    seen = (batch.erased, batch.erased_seq)
    batch, ids = _batch(seen, (ERASED, T0 + 20_000), (KEPT, T0 + 20_000))
    _erase(database_url, ERASED, T0 + 30_000)
    apply_batch(pg, batch, tables=live_tables(), expected={}, advance={})
    assert ids[f"{ERASED}@{T0 + 20_000}"] not in _visits(pg)
    assert ids[f"{KEPT}@{T0 + 20_000}"] in _visits(pg)
    assert batch.erased[ERASED] == T0 + 30_000

    # What the user records after the erasure is projected again.
    seen = (batch.erased, batch.erased_seq)
    batch, ids = _batch(seen, (ERASED, T0 + 40_000))
    apply_batch(pg, batch, tables=live_tables(), expected={}, advance={})
    assert ids[f"{ERASED}@{T0 + 40_000}"] in _visits(pg)
