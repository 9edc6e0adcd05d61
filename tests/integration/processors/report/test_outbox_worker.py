"""The real worker (Faust on the Redis Streams transport) sends the reports left owed.

A report left in the outbox by a worker that died is sent when the next worker is
assigned the sessions partitions (the ``on_partitions_assigned`` signal); a report
owed while a worker runs is picked up by its outbox timer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.settings import Settings
from processors.report import ReportOutbox
from schema.topics import partition_for
from tests.integration.processors.report.mail import SmtpServer, built_session, reader
from tests.support.processes import LoggedProcess, mindhit_env

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODULE = "tests.integration.processors.report.report_worker"


@pytest.fixture
def start_worker(settings: Settings, smtp: SmtpServer, tmp_path: Path) -> Iterator[Any]:
    started: list[LoggedProcess] = []

    def start(retry_s: float) -> LoggedProcess:
        env = mindhit_env(
            settings,
            MINDHIT_DATA_DIR=str(tmp_path / "data"),
            MINDHIT_AI_PROVIDER="local",
            MINDHIT_SMTP_URL=smtp.url,
            T_REPORT_RETRY_S=str(retry_s),
        )
        worker = LoggedProcess(MODULE, [], env, tmp_path / f"worker{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


async def _delivered(smtp: SmtpServer, email: str, worker: LoggedProcess, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not smtp.inbox.to(email):
            assert worker.proc.poll() is None, worker.tail()
            await asyncio.sleep(0.05)


@pytest.mark.timeout(120)
async def test_reports_left_owed_are_sent_on_assignment_and_by_the_timer(
    settings: Settings,
    aredis: aioredis.Redis,
    apg: psycopg.AsyncConnection[Any],
    smtp: SmtpServer,
    start_worker: Any,
) -> None:
    outbox = ReportOutbox(aredis, settings.key_prefix)
    left, left_email = await reader(apg, reports=True)
    closed, built = built_session(left)
    await outbox.put(partition_for(left, settings.partitions), closed, built, now_ms=0)

    # The timer would first run in an hour: only the assignment can send this one.
    first = start_worker(3600.0)
    try:
        await _delivered(smtp, left_email, first, timeout=60)
    except TimeoutError:
        pytest.fail(f"not sent on assignment:\n{first.tail()}")
    finally:
        first.stop()
    assert first.proc.returncode == 0, first.tail()

    second = start_worker(0.3)
    later, later_email = await reader(apg, reports=True)
    # Owed only after the worker's assignment pass is over: only the timer can send it.
    async with asyncio.timeout(60):
        while b"reports_resent" not in second.log.read_bytes():
            assert second.proc.poll() is None, second.tail()
            await asyncio.sleep(0.05)
    closed, built = built_session(later)
    await outbox.put(partition_for(later, settings.partitions), closed, built, now_ms=0)
    try:
        await _delivered(smtp, later_email, second, timeout=30)
    except TimeoutError:
        pytest.fail(f"not sent by the timer:\n{second.tail()}")
    assert len(smtp.inbox.messages) == 2
    # The record goes once the worker has the server's answer, a moment after the mail.
    async with asyncio.timeout(30):
        while any([await outbox.records(p) for p in range(settings.partitions)]):
            assert second.proc.poll() is None, second.tail()
            await asyncio.sleep(0.05)
