"""A projector replica paused inside a drain does not stop the overview for the others.

A drain holds the drain lock for its transaction. A replica paused there (a frozen VM;
``SIGSTOP`` in ``test_replicas.py``, where a CI run waited 90 s for the overview) held
every other replica's drains off until it resumed. Its session now ends a transaction
left idle past the drainer's timeout (PostgreSQL rolls it back and frees the lock), and
the drainer opens a new connection at its next turn.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from projector.overview_drainer import DRAIN_LOCK, OverviewDrainer, drain_once

pytestmark = pytest.mark.integration

IDLE_TIMEOUT_MS = 500


def test_a_drain_left_open_by_a_paused_replica_ends_and_its_drainer_reconnects(
    pg: psycopg.Connection[Any], database_url: str
) -> None:
    paused = OverviewDrainer(
        psycopg.connect(database_url),
        connect=lambda: psycopg.connect(database_url),
        idle_timeout_ms=IDLE_TIMEOUT_MS,
    )
    try:
        assert paused._turn() == 0  # its session is set up
        # Inside a drain (the lock taken), then nothing: the process is paused.
        held = paused.conn.execute("SELECT pg_try_advisory_xact_lock(%s)", (DRAIN_LOCK,))
        assert held.fetchone() == (True,)
        assert drain_once(pg) is None  # the other replica's turn waits …
        pg.commit()
        deadline = time.monotonic() + 10
        while (drained := drain_once(pg)) is None:  # … until the open drain is ended
            pg.commit()
            assert time.monotonic() < deadline, "the paused drain kept the lock"
            time.sleep(0.1)
        assert drained == 0
        waited = 10 - (deadline - time.monotonic())
        assert waited >= (IDLE_TIMEOUT_MS - 100) / 1000
        # Resumed: its drain fails (its session was ended), its next turn drains again.
        with pytest.raises(psycopg.Error):  # IdleInTransactionSessionTimeout
            paused._turn()
        assert paused._turn() == 0
        assert not paused.conn.closed
    finally:
        paused.conn.close()
