"""The report outbox: no session report is lost to a worker crash or an SMTP outage.

The mind-map handler runs on real Redis with the offline provider; reports go through
the real reporter (PostgreSQL recipients) to a real SMTP server (aiosmtpd). The clock
is injected, so retries fall due without waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.settings import Settings
from processors.agents.mindmap import MindmapHandler, OnBuilt, Reports
from processors.ai.local import LocalProvider
from processors.content import ContentStore
from processors.erasure import user_eraser
from processors.report import ReportOutbox, reporter_from_settings
from processors.report.metrics import REPORTS
from processors.state import StateStore
from schema.derived import DerivedEvent, MindmapBuilt, SessionClosed, UserErased
from schema.log import DerivedEntry, encode_derived_entry
from schema.topics import partition_for
from tests.integration.processors.report.mail import SmtpServer, built_session, reader
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

PARTITIONS = 4
MINUTE = 60_000


class Clock:
    """A clock the test moves by hand (Unix ms)."""

    def __init__(self) -> None:
        self.now = 1_790_000_000_000

    def __call__(self) -> int:
        return self.now


class Worker:
    """One worker's mind-map handler on the shared Redis, with the report outbox."""

    def __init__(
        self, client: aioredis.Redis, prefix: str, on_built: OnBuilt, clock: Clock
    ) -> None:
        content = ContentStore(client, prefix)
        self.content = content
        self.outbox = ReportOutbox(client, prefix)
        self.handler = MindmapHandler(
            content,
            LocalProvider(),
            self._emit,
            clock,
            Reports(on_built, self.outbox),
            user_eraser(StateStore(client, prefix), content, self.outbox),
        )

    async def _emit(self, topic: str, partition: int, value: bytes) -> None:
        return None

    async def handle(self, partition: int, *events: DerivedEvent) -> None:
        """Handle one ``sessions`` entry and wait for the reports it started."""
        entry = DerivedEntry(events=list(events))
        await self.handler.handle(partition, encode_derived_entry(entry))
        await self.handler.drain()

    async def owed(self, partition: int) -> list[str]:
        return [r.closed.session_id for r in await self.outbox.records(partition)]


def _reporter(smtp_url: str, database_url: str) -> OnBuilt:
    reporter = reporter_from_settings(Settings.from_env({}, smtp_url=smtp_url), database_url)
    assert reporter is not None
    return reporter


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_worker_dying_before_the_mail_went_out_loses_no_report(
    aredis: aioredis.Redis,
    key_prefix: str,
    apg: psycopg.AsyncConnection[Any],
    database_url: str,
    smtp: SmtpServer,
) -> None:
    user_id, email = await reader(apg, reports=True)
    closed, _ = built_session(user_id)
    partition = partition_for(user_id, PARTITIONS)
    clock = Clock()
    stuck: list[asyncio.Task[Any]] = []

    async def never_completes(closed: SessionClosed, built: MindmapBuilt) -> bool:
        task = asyncio.current_task()
        assert task is not None
        stuck.append(task)
        await asyncio.Event().wait()
        return True

    dying = Worker(aredis, key_prefix, never_completes, clock)
    await dying.handler.handle(partition, encode_derived_entry(DerivedEntry(events=[closed])))
    await _until(lambda: bool(stuck))  # the report is on its way …
    assert await dying.content.mindmap_done(closed.user_id, closed.session_id)
    assert await dying.owed(partition) == [closed.session_id]
    stuck[0].cancel()  # … when the worker dies
    await dying.handler.drain()

    fresh = Worker(aredis, key_prefix, _reporter(smtp.url, database_url), clock)
    await fresh.handle(partition, closed)  # redelivered: the map is done, nothing happens
    assert smtp.inbox.messages == []
    assert await fresh.handler.resend_due(partition) == 1  # the partition is recovered
    assert len(smtp.inbox.to(email)) == 1
    assert smtp.inbox.messages[0]["Subject"].startswith("Your session:")
    assert await fresh.owed(partition) == []
    clock.now += 24 * 60 * MINUTE
    assert await fresh.handler.resend_due(partition) == 0
    assert len(smtp.inbox.messages) == 1


async def test_a_report_sent_again_after_a_worker_died_carries_the_same_message_id(
    aredis: aioredis.Redis,
    key_prefix: str,
    apg: psycopg.AsyncConnection[Any],
    database_url: str,
    smtp: SmtpServer,
) -> None:
    """At least once: the mail server accepted the report, then the worker died before the
    outbox record was removed. The second send is the same message to a mail system that
    deduplicates by ``Message-ID``."""
    user_id, email = await reader(apg, reports=True)
    closed, _ = built_session(user_id)
    partition = partition_for(user_id, PARTITIONS)
    clock = Clock()
    real = _reporter(smtp.url, database_url)
    sent: list[asyncio.Task[Any]] = []

    async def sends_then_dies(closed: SessionClosed, built: MindmapBuilt) -> bool:
        await real(closed, built)
        task = asyncio.current_task()
        assert task is not None
        sent.append(task)
        await asyncio.Event().wait()  # cancelled below: the worker is gone
        return True

    dying = Worker(aredis, key_prefix, sends_then_dies, clock)
    await dying.handler.handle(partition, encode_derived_entry(DerivedEntry(events=[closed])))
    await _until(lambda: bool(sent), 20)  # the mail server accepted the report …
    sent[0].cancel()  # … when the worker dies
    await dying.handler.drain()
    assert await dying.owed(partition) == [closed.session_id]

    fresh = Worker(aredis, key_prefix, real, clock)
    assert await fresh.handler.resend_due(partition) == 1
    first, second = smtp.inbox.to(email)
    assert first["Message-ID"] == second["Message-ID"] and first["Message-ID"]
    assert first["Subject"] == second["Subject"]
    assert await fresh.owed(partition) == []


async def test_smtp_down_then_up_delivers_the_report_on_a_later_retry(
    aredis: aioredis.Redis, key_prefix: str, apg: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    user_id, email = await reader(apg, reports=True)
    closed, _ = built_session(user_id)
    partition = partition_for(user_id, PARTITIONS)
    server = SmtpServer(free_port())  # not started yet: the mail server is down
    clock = Clock()
    worker = Worker(aredis, key_prefix, _reporter(server.url, database_url), clock)
    failed = REPORTS.labels("failed")._value.get()

    await worker.handle(partition, closed)
    assert REPORTS.labels("failed")._value.get() == failed + 1
    [record] = await worker.outbox.records(partition)
    assert (record.attempts, record.due_ms) == (1, clock.now + MINUTE)
    assert await worker.handler.resend_due(partition) == 0  # not due yet

    server.start()
    try:
        clock.now += MINUTE
        assert await worker.handler.resend_due(partition) == 1
        assert len(server.inbox.to(email)) == 1
        assert await worker.owed(partition) == []
    finally:
        server.stop()


async def test_a_report_failing_every_time_is_abandoned_after_eight_attempts(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    closed, _ = built_session("u-nowhere")
    clock = Clock()
    calls: list[str] = []

    async def always_fails(closed: SessionClosed, built: MindmapBuilt) -> bool:
        calls.append(closed.session_id)
        return False

    worker = Worker(aredis, key_prefix, always_fails, clock)
    abandoned = REPORTS.labels("abandoned")._value.get()
    await worker.handle(0, closed)
    waits: list[int] = []
    while records := await worker.outbox.records(0):
        waits.append(records[0].due_ms - clock.now)
        clock.now = records[0].due_ms
        await worker.handler.resend_due(0)
    assert len(calls) == 8
    assert [w // MINUTE for w in waits] == [1, 2, 4, 8, 16, 32, 64]
    assert REPORTS.labels("abandoned")._value.get() == abandoned + 1


async def test_users_who_want_no_report_leave_nothing_owed(
    aredis: aioredis.Redis,
    key_prefix: str,
    apg: psycopg.AsyncConnection[Any],
    database_url: str,
    smtp: SmtpServer,
) -> None:
    opted_out, _ = await reader(apg, reports=False)
    no_account = "0190a0b0-0000-7000-8000-00000000dead"
    worker = Worker(aredis, key_prefix, _reporter(smtp.url, database_url), Clock())
    skipped = REPORTS.labels("skipped")._value.get()
    for user_id in (opted_out, no_account):
        await worker.handle(0, built_session(user_id)[0])
    assert await worker.owed(0) == []
    assert smtp.inbox.messages == []
    assert REPORTS.labels("skipped")._value.get() == skipped + 2


async def test_erasure_drops_the_reports_owed_to_the_user_and_a_late_retry_keeps_them_gone(
    aredis: aioredis.Redis, key_prefix: str, apg: psycopg.AsyncConnection[Any], database_url: str
) -> None:
    erased, _ = await reader(apg, reports=True)
    kept, _ = await reader(apg, reports=True)
    clock = Clock()
    down = f"smtp://127.0.0.1:{free_port()}"
    worker = Worker(aredis, key_prefix, _reporter(down, database_url), clock)
    for user in (erased, erased, kept):
        await worker.handle(0, built_session(user)[0])
    owed = await worker.outbox.records(0)
    assert sorted(r.closed.user_id for r in owed) == sorted([erased, erased, kept])
    stale = next(r for r in owed if r.closed.user_id == erased)
    [kept_session] = [r.closed.session_id for r in owed if r.closed.user_id == kept]

    await worker.handle(0, UserErased(user_id=erased, ts=clock.now))
    assert await worker.owed(0) == [kept_session]
    # A send of the erased user's report that was already under way fails afterwards:
    # its retry must not bring the record back.
    assert await worker.outbox.failed(0, stale, clock.now) is False
    assert await worker.owed(0) == [kept_session]


async def test_a_session_is_never_sent_twice_at_once_by_one_worker(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    closed, _ = built_session("u-1")
    gate = asyncio.Event()
    calls: list[str] = []

    async def slow(closed: SessionClosed, built: MindmapBuilt) -> bool:
        calls.append(closed.session_id)
        await gate.wait()
        return True

    worker = Worker(aredis, key_prefix, slow, Clock())
    await worker.handler.handle(0, encode_derived_entry(DerivedEntry(events=[closed])))
    await _until(lambda: bool(calls))
    passes: list[Awaitable[int]] = [worker.handler.resend_due(0) for _ in range(3)]
    # The record is due, but being sent: the passes skip it (rather than wait on the gate).
    assert await asyncio.wait_for(asyncio.gather(*passes), 5) == [0, 0, 0]
    gate.set()
    await worker.handler.drain()
    assert calls == [closed.session_id]
    assert await worker.owed(0) == []
