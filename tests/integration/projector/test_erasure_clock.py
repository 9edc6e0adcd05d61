"""Erasure is cut by server time: a client clock running ahead keeps nothing.

The user's browser clock is a day fast, so every event time, session id (UUIDv7) and
derived time lies after the erasure. What the gateway received before the erasure goes
anyway: from the read tables, the archive, the output a lagging worker derives from it
after the erasure, and a replay of the archive.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.settings import Settings
from projector.erase import erase_user
from projector.replay import replay
from schema.derived import DerivedBase, SessionStatusChanged, VisitClosed
from schema.events import SessionStarted
from schema.ids import uuid7
from schema.log import DerivedEntry, RawEntry, Upload, encode_derived_entry, encode_raw_entry
from schema.topics import RAW_TOPIC, partition_for, stream_key, topic_for

from .conftest import fold_all
from .test_archive_replay import archive_all

pytestmark = pytest.mark.integration

DAY_MS = 86_400_000
TABLES = ("sessions", "page_visits", "event_log")


def _rows(conn: psycopg.Connection[Any], user: str) -> dict[str, int]:
    counts = {
        t: conn.execute(f"SELECT count(*) FROM {t} WHERE user_id = %s", (user,)).fetchone()[0]  # type: ignore[index]
        for t in TABLES
    }
    conn.commit()
    return counts


async def _derived(
    redis: aioredis.Redis, settings: Settings, event: DerivedBase, received_at: int
) -> None:
    partition = partition_for(event.user_id, settings.partitions)
    await streams.append(
        redis,
        stream_key(settings.key_prefix, topic_for(event), partition),
        encode_derived_entry(DerivedEntry(events=[event], origin=0, received_at=received_at)),  # type: ignore[list-item]
        key=b"",
        timestamp_ms=int(time.time() * 1000),
    )


def _visit(user: str, session_id: str, ahead: int) -> VisitClosed:
    return VisitClosed(
        user_id=user,
        visit_id=str(uuid.uuid4()),
        client_id="ext",
        session_id=session_id,
        tab_id=1,
        url="https://clinic.example/",
        url_hash="a" * 32,
        domain="clinic.example",
        title="Diagnosis",
        start_ts=ahead,
        end_ts=ahead + 60_000,
        dwell_ms=60_000,
        opened_seq=1,
    )


async def test_a_fast_client_clock_keeps_nothing_past_an_erasure(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    user = str(uuid.uuid4())
    received = int(time.time() * 1000)
    ahead = received + DAY_MS
    session_id = uuid7(ahead)
    started = SessionStarted(
        event_id=uuid7(ahead), client_id="ext", session_id=session_id, seq=1, ts=ahead
    )
    upload = Upload(
        batch_id=uuid7(), user_id=user, client_id="ext", received_at=received, events=[started]
    )
    await streams.append(
        aredis,
        stream_key(settings.key_prefix, RAW_TOPIC, partition_for(user, settings.partitions)),
        encode_raw_entry(RawEntry(uploads=[upload])),
        key=b"",
        timestamp_ms=received,
    )
    await _derived(aredis, settings, _visit(user, session_id, ahead), received)
    await fold_all(settings, aredis, pg)
    await archive_all(settings, aredis, pg)
    assert all(_rows(pg, user).values())

    await erase_user(
        settings, aredis, pg, user, delete_account=False, clock=lambda: received + 1_000
    )
    assert not any(_rows(pg, user).values())
    # A worker that lagged behind derives from the erased upload only now.
    await _derived(aredis, settings, _visit(user, session_id, ahead), received)
    status = SessionStatusChanged(
        user_id=user, session_id=session_id, status="completed", ts=ahead + 5
    )
    await _derived(aredis, settings, status, received)
    await fold_all(settings, aredis, pg)
    await archive_all(settings, aredis, pg)
    assert not any(_rows(pg, user).values())
    assert (await replay(settings, aredis, pg)).swapped
    assert not any(_rows(pg, user).values())
