"""A closed session through the mind-map handler with Gemini (stubbed) and the email report.

Cross-checks the AI side with the processors' handler: a malformed answer marks the
session failed with the reason and dead-letters it; a 429 then a good answer yields one
``mindmap.built`` whose leaves are the session's pages, and the opted-in user gets the
report on a real SMTP server, leaving nothing owed in the report outbox. Real Redis
(content store, outbox) and PostgreSQL (recipient).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
import redis.asyncio as aioredis
from aiosmtpd.controller import Controller

from mindhit.accounts import create_user
from mindhit.corpus import load_pages
from mindhit.settings import Settings
from processors.agents.mindmap import MindmapHandler, Reports
from processors.ai.gemini import GeminiProvider
from processors.content import ContentStore
from processors.report import ReportOutbox, reporter_from_settings
from schema.derived import (
    DeadLettered,
    MindmapBuilt,
    SessionClosed,
    SessionPage,
    SessionStatusChanged,
)
from schema.log import DerivedEntry, decode_derived_entry, encode_derived_entry
from tests.support.gemini_stub import GeminiStub, StubReply
from tests.support.servers import free_port as _free_port

pytestmark = pytest.mark.integration


class _Inbox:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[_Inbox, int]]:
    handler = _Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture
async def stub() -> AsyncIterator[GeminiStub]:
    async with GeminiStub(api_key="k") as server:
        yield server


async def _session(content: ContentStore, user_id: str) -> SessionClosed:
    pages = load_pages()[::8]
    listed = []
    for i, page in enumerate(pages):
        content_hash = hashlib.sha256(page.text.encode()).hexdigest()[:32]
        await content.put_texts([(content_hash, page.text)])
        listed.append(
            SessionPage(
                url_hash=hashlib.sha256(page.url.encode()).hexdigest()[:32],
                url=page.url,
                title=page.title,
                domain=page.url.split("/")[2],
                dwell_ms=30_000 * (i + 1),
                content_hash=content_hash,
            )
        )
    return SessionClosed(
        user_id=user_id,
        session_id=str(uuid.uuid4()),
        started_ts=1_764_151_200_000,
        stopped_ts=1_764_152_400_000,
        active_ms=sum(p.dwell_ms for p in listed),
        page_count=len(listed),
        domain_count=len(listed),
        pages=listed,
    )


async def _run(
    aredis: aioredis.Redis,
    key_prefix: str,
    stub: GeminiStub,
    closed: SessionClosed,
    on_built: Any,
    fallback: Any = "local",
) -> list[Any]:
    emitted: list[Any] = []

    async def emit(topic: str, partition: int, value: bytes) -> None:
        emitted.extend(decode_derived_entry(value).events)

    async def no_wait(delay: float) -> None:
        return None

    provider = GeminiProvider(
        api_key="k", model="m", base_url=stub.base_url, attempts=2, sleep=no_wait
    )
    reports = Reports(on_built, ReportOutbox(aredis, key_prefix)) if on_built is not None else None
    handler = MindmapHandler(
        ContentStore(aredis, key_prefix),
        provider,
        emit,
        lambda: 5,
        reports,
        fallback=fallback,
    )
    try:
        await handler.handle(0, encode_derived_entry(DerivedEntry(events=[closed])))
        await handler.drain()  # the report email is sent in the background
    finally:
        await provider.aclose()
    return emitted


async def test_malformed_answers_fail_the_session_without_a_fallback(
    aredis: aioredis.Redis, key_prefix: str, stub: GeminiStub
) -> None:
    closed = await _session(ContentStore(aredis, key_prefix), "u-1")
    stub.push(StubReply(answer='{"label": "x"}'), StubReply(answer="not json"))
    emitted = await _run(aredis, key_prefix, stub, closed, None, fallback=None)
    statuses = [e for e in emitted if isinstance(e, SessionStatusChanged)]
    assert [s.status for s in statuses] == ["processing", "failed"]
    assert "malformed model answer" in statuses[-1].reason
    letters = [e for e in emitted if isinstance(e, DeadLettered)]
    assert len(letters) == 1 and letters[0].kind == "mindmap"
    assert not any(isinstance(e, MindmapBuilt) for e in emitted)
    assert len(stub.requests) == 2


async def test_malformed_answers_fall_back_to_the_local_map_and_record_the_failure(
    aredis: aioredis.Redis, key_prefix: str, stub: GeminiStub
) -> None:
    content = ContentStore(aredis, key_prefix)
    closed = await _session(content, "u-2")
    stub.push(StubReply(answer='{"label": "x"}'), StubReply(answer="not json"))
    emitted = await _run(aredis, key_prefix, stub, closed, None)
    statuses = [e.status for e in emitted if isinstance(e, SessionStatusChanged)]
    assert statuses == ["processing", "completed"]
    (built,) = [e for e in emitted if isinstance(e, MindmapBuilt)]
    assert built.provider == "local" and built.root.fallback_from == "gemini"
    leaves = [leaf for branch in built.root.children for leaf in branch.children]
    assert sorted(leaf.url_hash for leaf in leaves) == sorted(p.url_hash for p in closed.pages)
    (letter,) = [e for e in emitted if isinstance(e, DeadLettered)]
    assert letter.kind == "mindmap" and "malformed model answer" in letter.error
    # not marked done: a retry of the letter asks Gemini again
    assert not await content.mindmap_done(closed.user_id, closed.session_id)


async def test_429_then_answer_builds_the_map_and_emails_the_report(
    aredis: aioredis.Redis,
    key_prefix: str,
    stub: GeminiStub,
    apg: psycopg.AsyncConnection[Any],
    database_url: str,
    inbox: tuple[_Inbox, int],
) -> None:
    handler, port = inbox
    user = await create_user(apg, f"r-{uuid.uuid4().hex[:8]}@example.org", email_confirmed=True)
    await apg.execute(
        "UPDATE user_settings SET email_reports = true WHERE user_id = %s", (user.user_id,)
    )
    closed = await _session(ContentStore(aredis, key_prefix), str(user.user_id))
    stub.push(StubReply(status=429))
    reporter = reporter_from_settings(
        Settings.from_env({}, smtp_url=f"smtp+insecure://127.0.0.1:{port}"), database_url
    )
    emitted = await _run(aredis, key_prefix, stub, closed, reporter)
    built = [e for e in emitted if isinstance(e, MindmapBuilt)]
    assert len(built) == 1 and built[0].provider == "gemini"
    leaves = [leaf for branch in built[0].root.children for leaf in branch.children]
    assert sorted(leaf.url_hash for leaf in leaves) == sorted(p.url_hash for p in closed.pages)
    assert built[0].root.weight_ms == closed.active_ms
    assert [e.status for e in emitted if isinstance(e, SessionStatusChanged)] == [
        "processing",
        "completed",
    ]
    assert len(handler.envelopes) == 1
    assert handler.envelopes[0].rcpt_tos == [user.email]
    assert await ReportOutbox(aredis, key_prefix).records(0) == []  # the report is finished
