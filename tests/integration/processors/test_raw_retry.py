"""A raw entry retried after a transient failure still gives every visit exactly once.

The dwell handler folds an entry, then sends what it derived, then keeps the new
state. When anything between the fold and the end of the send fails transiently,
the reliable wrapper runs the same entry again: that run must fold from the state
as it was before the failed attempt, or the entry's events look like duplicates
and its visits are never sent (while the session's dwell already counted them).
"""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
import redis.exceptions

from mindhit.settings import Settings
from processors.agents import in_order
from processors.agents.reliable import handle_reliably
from schema.derived import SessionClosed, VisitClosed
from schema.events import ClientEvent
from schema.log import RawEntry, Upload, encode_raw_entry
from schema.topics import SESSIONS_TOPIC, VISITS_TOPIC
from tests.integration.processors.pipeline import Pipeline
from tests.unit.processors.browsing import Browser

pytestmark = pytest.mark.integration

SID = "0190a0b0-0000-7000-8000-0000000000e1"
USER = "0190a0b0-0000-7000-8000-0000000000e9"


def _entry(batch_id: str, events: list[ClientEvent]) -> bytes:
    upload = Upload(batch_id=batch_id, user_id=USER, client_id="c1", received_at=0, events=events)
    return encode_raw_entry(RawEntry(uploads=[upload]))


class FailingOnce:
    """The pipeline's emit, failing its first ``failures`` sends as Redis would (nothing stored)."""

    def __init__(self, pipe: Pipeline, failures: int) -> None:
        self._pipe = pipe
        self.failures = failures

    def check(self) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise redis.exceptions.ConnectionError("injected: connection reset by peer")

    async def __call__(self, topic: str, partition: int, value: bytes) -> None:
        self.check()
        await self._pipe.emit(topic, partition, value)


async def _no_wait(_seconds: float) -> None:
    return None


@pytest.mark.parametrize(("where", "failures"), [("emit", 1), ("emit", 3), ("content", 1)])
async def test_a_send_failing_after_the_fold_is_retried_without_losing_visits(
    aredis: aioredis.Redis, settings: Settings, where: str, failures: int
) -> None:
    """``where``: the derived events' send, or the content store just before it."""
    pipe = Pipeline(aredis, settings)
    b = Browser("c1", SID)
    b.start()
    b.activate(1, "https://a.example/")
    first = list(b.events)
    b.wait(4_000).activate(2, "https://b.example/")
    b.wait(6_000).activate(3, "https://c.example/")
    second = b.events[len(first) :]
    b.wait(2_000).stop()
    third = b.events[len(first) + len(second) :]

    # 1. The session is open after the first entry: its state stays in the worker's memory.
    assert await handle_reliably("dwell", pipe.raw.handle, 0, _entry("b1", first), sleep=_no_wait)
    # 2. The second entry closes two visits; sending them fails (transiently) first.
    failing = FailingOnce(pipe, failures)
    content = pipe.raw._content
    real_lookup = content.take_entry
    if where == "emit":
        pipe.raw._enqueue = in_order(failing)
    else:

        async def failing_lookup(
            texts: Any, held: Any, versions: list[tuple[str, str]]
        ) -> list[tuple[str, str]]:
            failing.check()
            return await real_lookup(texts, held, versions)

        content.take_entry = failing_lookup  # type: ignore[method-assign]
    assert await handle_reliably("dwell", pipe.raw.handle, 0, _entry("b2", second), sleep=_no_wait)
    assert failing.failures == 0
    # 3. The stop closes the last visit and the session.
    pipe.raw._enqueue = in_order(pipe.emit)
    content.take_entry = real_lookup  # type: ignore[method-assign]
    assert await handle_reliably("dwell", pipe.raw.handle, 0, _entry("b3", third), sleep=_no_wait)

    visits = [v for v in await pipe.derived(VISITS_TOPIC) if isinstance(v, VisitClosed)]
    assert [(v.url, v.dwell_ms) for v in visits] == [
        ("https://a.example/", 4_000),
        ("https://b.example/", 6_000),
        ("https://c.example/", 2_000),
    ]
    closed = [c for c in await pipe.derived(SESSIONS_TOPIC) if isinstance(c, SessionClosed)]
    assert [c.active_ms for c in closed] == [sum(v.dwell_ms for v in visits)]
