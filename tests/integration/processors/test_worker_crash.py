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
from functools import partial
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from mindhit.settings import Settings
from schema.derived import SessionClosed, VisitClosed
from schema.topics import SESSIONS_TOPIC, VISITS_TOPIC
from tests.integration.processors.test_worker_through_gateway import service
from tests.support.processes import mindhit_env
from tests.support.scripted import append_scripted_backlog, derived_events
from tests.support.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USERS = 60


@pytest.mark.timeout(180)
async def test_sigkill_mid_backlog_then_restart_gives_the_clean_result(
    settings: Settings, aredis: aioredis.Redis, tmp_path: Path
) -> None:
    expected = await append_scripted_backlog(
        aredis, settings.key_prefix, settings.partitions, USERS, 300
    )
    expected_visits, expected_sessions = expected.visits, expected.sessions
    derived = partial(derived_events, aredis, settings.key_prefix, settings.partitions)

    env = mindhit_env(
        settings, MINDHIT_COMMIT_INTERVAL_S="1.0", MINDHIT_DATA_DIR=str(tmp_path / "data")
    )
    args = ["processors", "--port", str(free_port())]
    first = service(args, env, tmp_path / "worker1.log")
    try:
        for _ in range(600):
            assert first.proc.poll() is None, first.tail()
            if len(await derived(VISITS_TOPIC)) >= len(expected_visits) // 4:
                break
            await asyncio.sleep(0.05)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
    finally:
        first.stop()
    emitted = len(await derived(VISITS_TOPIC))
    assert 0 < emitted < len(expected_visits), "the kill must land mid-backlog"

    args = ["processors", "--port", str(free_port())]
    second = service(args, env, tmp_path / "worker2.log")
    try:
        for _ in range(1200):
            assert second.proc.poll() is None, second.tail()
            closed = [s for s in await derived(SESSIONS_TOPIC) if isinstance(s, SessionClosed)]
            if len({s.session_id for s in closed}) == USERS:
                break
            await asyncio.sleep(0.05)
    finally:
        second.stop()

    visits = [v for v in await derived(VISITS_TOPIC) if isinstance(v, VisitClosed)]
    assert {v.visit_id: v for v in visits} == expected_visits
    assert all(expected_visits[v.visit_id] == v for v in visits)  # a redelivered copy is identical
    assert {s.session_id: s for s in closed} == expected_sessions
    assert all(expected_sessions[s.session_id] == s for s in closed)
