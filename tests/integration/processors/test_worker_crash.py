"""Crash-then-resume: a worker SIGKILLed mid-backlog and restarted yields the same visits.

The backlog (scripted sessions of many users) is appended to the raw topic as the
gateway would; a ``mindhit processors`` worker is killed while folding it, then a
new one finishes. Every visit and every closed session must equal what one clean
fold of the same events gives — redelivered entries turn into no-ops (state is
saved before an entry is acknowledged; visit ids are deterministic).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.settings import Settings
from processors.dwell import fold
from schema.derived import SessionClosed, VisitClosed
from schema.ids import uuid7
from schema.log import RawEntry, Upload, decode_derived_entry, encode_raw_entry
from schema.topics import RAW_TOPIC, SESSIONS_TOPIC, VISITS_TOPIC, partition_for, stream_key
from tests.integration.processors.test_worker_through_gateway import Script, service
from tests.support.processes import mindhit_env
from tests.support.servers import free_port
from tests.unit.processors.browsing import Browser

pytestmark = pytest.mark.integration

USERS = 60


async def _derived(client: aioredis.Redis, settings: Settings, topic: str) -> list[object]:
    found: list[object] = []
    for partition in range(settings.partitions):
        for _id, fields in await client.xrange(stream_key(settings.key_prefix, topic, partition)):
            found.extend(decode_derived_entry(fields[b"v"]).events)
    return found


@pytest.mark.timeout(180)
async def test_sigkill_mid_backlog_then_restart_gives_the_clean_result(
    settings: Settings, aredis: aioredis.Redis, tmp_path: Path
) -> None:
    expected_visits: dict[str, VisitClosed] = {}
    expected_sessions: dict[str, SessionClosed] = {}
    for u in range(USERS):
        user = f"user-{u}"
        b = Browser(f"client-{u}", uuid7(), ts=1_790_000_000_000 + u)
        Script(b, seed=u).run(300)
        b.stop()
        _, result = fold(None, user, b.events)
        for d in result.derived:
            if isinstance(d, VisitClosed):
                expected_visits[d.visit_id] = d
            elif isinstance(d, SessionClosed):
                expected_sessions[d.session_id] = d
        key = stream_key(settings.key_prefix, RAW_TOPIC, partition_for(user, settings.partitions))
        for start in range(0, len(b.events), 40):
            upload = Upload(
                batch_id=uuid7(),
                user_id=user,
                client_id=b.client_id,
                received_at=0,
                events=b.events[start : start + 40],
            )
            value = encode_raw_entry(RawEntry(uploads=[upload]))
            await streams.append(aredis, key, value, key=user.encode(), timestamp_ms=0)

    env = mindhit_env(
        settings, MINDHIT_COMMIT_INTERVAL_S="1.0", MINDHIT_DATA_DIR=str(tmp_path / "data")
    )
    args = ["processors", "--port", str(free_port())]
    first = service(args, env, tmp_path / "worker1.log")
    try:
        for _ in range(600):
            assert first.proc.poll() is None, first.tail()
            if len(await _derived(aredis, settings, VISITS_TOPIC)) >= len(expected_visits) // 4:
                break
            await asyncio.sleep(0.05)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
    finally:
        first.stop()
    partial = len(await _derived(aredis, settings, VISITS_TOPIC))
    assert 0 < partial < len(expected_visits), "the kill must land mid-backlog"

    args = ["processors", "--port", str(free_port())]
    second = service(args, env, tmp_path / "worker2.log")
    try:
        for _ in range(1200):
            assert second.proc.poll() is None, second.tail()
            closed = [
                s
                for s in await _derived(aredis, settings, SESSIONS_TOPIC)
                if isinstance(s, SessionClosed)
            ]
            if len({s.session_id for s in closed}) == USERS:
                break
            await asyncio.sleep(0.05)
    finally:
        second.stop()

    visits = [
        v for v in await _derived(aredis, settings, VISITS_TOPIC) if isinstance(v, VisitClosed)
    ]
    assert {v.visit_id: v for v in visits} == expected_visits
    assert all(expected_visits[v.visit_id] == v for v in visits)  # a redelivered copy is identical
    assert {s.session_id: s for s in closed} == expected_sessions
    assert all(expected_sessions[s.session_id] == s for s in closed)
