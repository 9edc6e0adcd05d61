"""A session has one owner: another user's events never change its row (projector side).

The gateway refuses such events; these entries bypass it, as events logged before the
gateway checked ownership would, and the projector must still keep the row its owner's.
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
from schema.derived import DerivedBase, SessionStatusChanged
from schema.events import ClientEvent, IdleState, SessionStarted, SessionStopped
from schema.ids import uuid7
from schema.log import DerivedEntry, RawEntry, Upload, encode_derived_entry, encode_raw_entry
from schema.topics import RAW_TOPIC, SESSIONS_TOPIC, partition_for, stream_key

from .conftest import fold_all

pytestmark = pytest.mark.integration

NOW = int(time.time() * 1000)
ROW = (
    "SELECT user_id::text, label, started_at, stopped_at, status FROM sessions"
    " WHERE session_id = %s"
)


async def _raw(
    redis: aioredis.Redis, settings: Settings, *uploads: tuple[str, list[ClientEvent]]
) -> None:
    entry = RawEntry(
        uploads=[
            Upload(batch_id=uuid7(), user_id=user, client_id="ext", received_at=NOW, events=events)
            for user, events in uploads
        ]
    )
    partition = partition_for(uploads[0][0], settings.partitions)
    await streams.append(
        redis,
        stream_key(settings.key_prefix, RAW_TOPIC, partition),
        encode_raw_entry(entry),
        key=b"",
        timestamp_ms=NOW,
    )


async def _derived(redis: aioredis.Redis, settings: Settings, event: DerivedBase) -> None:
    partition = partition_for(event.user_id, settings.partitions)
    await streams.append(
        redis,
        stream_key(settings.key_prefix, SESSIONS_TOPIC, partition),
        encode_derived_entry(DerivedEntry(events=[event])),
        key=b"",
        timestamp_ms=NOW,
    )


def _start(session_id: str, seq: int, ts: int, label: str) -> SessionStarted:
    return SessionStarted(
        event_id=uuid7(), client_id="ext", session_id=session_id, seq=seq, ts=ts, label=label
    )


async def test_another_users_events_never_change_a_sessions_row(
    settings: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    victim, attacker = str(uuid.uuid4()), str(uuid.uuid4())
    session_id = uuid7(NOW)
    await _raw(aredis, settings, (victim, [_start(session_id, 1, NOW, "Trip planning")]))
    await fold_all(settings, aredis, pg)
    before = pg.execute(ROW, (session_id,)).fetchone()
    pg.commit()
    assert before is not None and before[0] == victim and before[1] == "Trip planning"
    evil: list[ClientEvent] = [
        _start(session_id, 1, 1_000, "pwned"),
        IdleState(
            event_id=uuid7(),
            client_id="ext",
            session_id=session_id,
            seq=2,
            ts=2_000,
            state="active",
        ),
        SessionStopped(event_id=uuid7(), client_id="ext", session_id=session_id, seq=3, ts=NOW),
    ]
    await _raw(aredis, settings, (attacker, evil))
    await _derived(
        aredis,
        settings,
        SessionStatusChanged(
            user_id=attacker, session_id=session_id, status="failed", ts=NOW + 1, reason="x"
        ),
    )
    # Both users in one entry: the same fold batch merges them (the first owner wins).
    other = uuid7(NOW + 5)
    await _raw(
        aredis,
        settings,
        (victim, [_start(other, 2, NOW + 5, "Mine")]),
        (attacker, [_start(other, 4, 1_000, "pwned too")]),
    )
    await fold_all(settings, aredis, pg)
    assert pg.execute(ROW, (session_id,)).fetchone() == before
    row = pg.execute(ROW, (other,)).fetchone()
    pg.commit()
    assert row is not None and (row[0], row[1], row[4]) == (victim, "Mine", "recording")
