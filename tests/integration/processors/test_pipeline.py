"""The processors' handlers on real Redis: enrichment once per content, maps, dead letters."""

from __future__ import annotations

import msgspec
import pytest
import redis.asyncio as aioredis

from mindhit.dlq import DeadLetterNotFound, list_dead_letters, retry_dead_letter
from mindhit.settings import Settings
from mindhit.streams import content_key
from processors.content import ContentStore
from processors.sessions import transition
from schema.derived import (
    MindmapBuilt,
    SessionClosed,
    SessionErased,
    SessionStatusChanged,
    UrlDiscovered,
    UrlEnriched,
    UserErased,
    VisitClosed,
)
from schema.log import DerivedEntry, encode_derived_entry
from schema.topics import (
    DEADLETTERS_TOPIC,
    SESSIONS_TOPIC,
    URLS_TOPIC,
    VISITS_TOPIC,
    partition_for,
)
from tests.integration.processors.pipeline import Pipeline
from tests.unit.processors.browsing import Browser, content_hash

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

PY = "Python asyncio runs coroutines on an event loop. Tasks, futures and awaitables. " * 8
BREAD = "Sourdough bread needs a lively starter, long fermentation and a hot oven. " * 8
SID1 = "0190a0b0-0000-7000-8000-0000000000a1"
SID2 = "0190a0b0-0000-7000-8000-0000000000a2"
SID3 = "0190a0b0-0000-7000-8000-0000000000a3"


def reading(b: Browser, tab: int, url: str, text: str, ms: int) -> None:
    b.activate(tab, url, title=url.rsplit("/", 1)[-1])
    b.content(tab, url, text)
    b.wait(ms)


async def erase(pipe: Pipeline, user: str) -> None:
    """Erase ``user`` as the dashboard does (``user.erased`` on the sessions topic)."""
    await pipe.emit(
        SESSIONS_TOPIC,
        partition_for(user, pipe.settings.partitions),
        encode_derived_entry(DerivedEntry(events=[UserErased(user_id=user, ts=1)])),
    )
    await pipe.drain()


@pytest.fixture
async def pipe(aredis: aioredis.Redis, settings: Settings) -> Pipeline:
    return Pipeline(aredis, settings)


async def test_a_url_is_enriched_once_per_content_across_sessions_and_users(pipe: Pipeline) -> None:
    alice = Browser("alice-laptop", SID1)
    reading(alice, 1, "https://docs.example/asyncio?utm_source=x", PY, 4_000)
    reading(alice, 2, "https://bake.example/sourdough", BREAD, 6_000)
    reading(alice, 1, "https://docs.example/asyncio", PY, 1_000)
    alice.stop()
    await pipe.feed("alice", "alice-laptop", alice.events)
    bob = Browser("bob-phone", SID2)
    reading(bob, 9, "https://docs.example/asyncio#tasks", PY, 2_000)
    bob.stop()
    await pipe.feed("bob", "bob-phone", bob.events)
    await pipe.drain()
    assert sorted(pipe.provider.enriched) == [
        "https://bake.example/sourdough",
        "https://docs.example/asyncio",
    ]

    # Alice comes back later: same text → no AI call; the page changed → one new call.
    again = Browser("alice-laptop", SID3, ts=alice.ts + 60_000, seq=alice.seq)
    reading(again, 1, "https://docs.example/asyncio", PY, 1_000)
    reading(again, 2, "https://bake.example/sourdough", BREAD + " Updated: rye.", 1_000)
    again.stop()
    await pipe.feed("alice", "alice-laptop", again.events)
    await pipe.drain()
    assert sorted(pipe.provider.enriched) == [
        "https://bake.example/sourdough",
        "https://bake.example/sourdough",
        "https://docs.example/asyncio",
    ]
    urls = await pipe.derived(URLS_TOPIC)
    enriched = [u for u in urls if isinstance(u, UrlEnriched)]
    assert {(u.url_hash, u.content_hash) for u in enriched} == {
        (u.url_hash, u.content_hash) for u in urls if isinstance(u, UrlDiscovered) and u.text
    }
    assert len(enriched) == 3
    assert all(3 <= len(u.tags) <= 7 and u.summary for u in enriched)
    texts = await ContentStore(pipe.redis, pipe.settings.key_prefix).get_texts([content_hash(PY)])
    assert texts == {content_hash(PY): PY}

    visits = [v for v in await pipe.derived(VISITS_TOPIC) if isinstance(v, VisitClosed)]
    assert [(v.user_id, v.url, v.dwell_ms) for v in visits if v.session_id == SID1] == [
        ("alice", "https://docs.example/asyncio", 4_000),
        ("alice", "https://bake.example/sourdough", 6_000),
        ("alice", "https://docs.example/asyncio", 1_000),
    ]
    assert all(v.content_hash for v in visits)


async def test_stopped_session_goes_processing_then_completed_with_one_map(
    pipe: Pipeline,
) -> None:
    b = Browser("c1", SID1)
    b.start()
    reading(b, 1, "https://docs.example/asyncio", PY, 30_000)
    reading(b, 2, "https://bake.example/sourdough", BREAD, 10_000)
    b.stop()
    await pipe.feed("alice", "c1", b.events)
    await pipe.drain()
    sessions = await pipe.derived(SESSIONS_TOPIC)
    statuses = [s.status for s in sessions if isinstance(s, SessionStatusChanged)]
    assert statuses == ["processing", "completed"]
    (closed,) = [s for s in sessions if isinstance(s, SessionClosed)]
    assert closed.active_ms == 40_000 and closed.page_count == 2
    (built,) = [s for s in sessions if isinstance(s, MindmapBuilt)]
    leaves: list[str] = []
    stack = [built.root]
    while stack:
        node = stack.pop()
        if node.url:
            leaves.append(node.url)
        stack.extend(node.children)
    assert sorted(leaves) == ["https://bake.example/sourdough", "https://docs.example/asyncio"]

    # Redelivery after a restart (state from Redis, memory lost) changes nothing.
    pipe.restart()
    pipe.positions.clear()
    await pipe.drain()
    assert pipe.provider.mindmaps == 1
    assert len(await pipe.derived(VISITS_TOPIC)) == 2
    assert len([s for s in await pipe.derived(SESSIONS_TOPIC) if isinstance(s, MindmapBuilt)]) == 1


async def test_failed_map_is_dead_lettered_and_a_retry_completes_it(pipe: Pipeline) -> None:
    b = Browser("c1", SID1)
    reading(b, 1, "https://docs.example/asyncio", PY, 5_000)
    b.stop()
    await pipe.feed("alice", "c1", b.events)
    pipe.provider.fail_with = "model answer did not match the schema"
    await pipe.drain()
    sessions = await pipe.derived(SESSIONS_TOPIC)
    failed = [s for s in sessions if isinstance(s, SessionStatusChanged) and s.status == "failed"]
    assert [s.reason for s in failed] == ["model answer did not match the schema"]
    letters = await list_dead_letters(pipe.redis, pipe.settings)
    kinds = sorted(v.kind for v in letters)
    assert kinds == ["enrich", "mindmap"]
    assert all(v.status == "pending" for v in letters)
    assert len(await pipe.derived(DEADLETTERS_TOPIC)) == 2

    pipe.provider.fail_with = None
    for letter in letters:
        view = await retry_dead_letter(pipe.redis, pipe.settings, letter.dlq_id, clock=pipe.clock)
        assert view.status == "retried"
    with pytest.raises(DeadLetterNotFound):
        await retry_dead_letter(pipe.redis, pipe.settings, "no-such-id", clock=pipe.clock)
    await pipe.drain()
    sessions = await pipe.derived(SESSIONS_TOPIC)
    statuses = [s.status for s in sessions if isinstance(s, SessionStatusChanged)]
    assert statuses == ["processing", "failed", "processing", "completed"]
    current = "recording"
    for status in statuses:  # every step is one the lifecycle allows
        current = transition(current, status)
    assert len([s for s in sessions if isinstance(s, MindmapBuilt)]) == 1
    assert len([u for u in await pipe.derived(URLS_TOPIC) if isinstance(u, UrlEnriched)]) == 1
    assert [v.status for v in await list_dead_letters(pipe.redis, pipe.settings)] == [
        "retried",
        "retried",
    ]
    assert await list_dead_letters(pipe.redis, pipe.settings, pending_only=True) == []


async def test_report_hook_gets_each_map_once_and_its_failure_only_leaves_it_owed(
    aredis: aioredis.Redis, settings: Settings
) -> None:
    reported: list[tuple[str, str]] = []

    async def flaky_report(closed: SessionClosed, built: MindmapBuilt) -> bool:
        reported.append((closed.session_id, built.session_id))
        if closed.session_id == SID1:
            raise ConnectionRefusedError("smtp down")
        return False

    pipe = Pipeline(aredis, settings, on_built=flaky_report)
    for sid in (SID1, SID2):
        b = Browser(
            "c1", sid, seq=1 if sid == SID1 else 100, ts=1_790_000_000_000 + (sid == SID2) * 10**6
        )
        reading(b, 1, "https://docs.example/asyncio", PY, 5_000)
        b.stop()
        await pipe.feed("alice", "c1", b.events)
    await pipe.drain()
    assert sorted(reported) == [(SID1, SID1), (SID2, SID2)]
    sessions = await pipe.derived(SESSIONS_TOPIC)
    done = [
        s.session_id
        for s in sessions
        if isinstance(s, SessionStatusChanged) and s.status == "completed"
    ]
    assert sorted(done) == [SID1, SID2]
    partition = partition_for("alice", settings.partitions)
    owed = await pipe.outbox.records(partition)
    assert sorted(r.closed.session_id for r in owed) == [SID1, SID2]
    assert all(r.attempts == 1 and r.due_ms > pipe.now for r in owed)
    await pipe.mindmap.resend_due(partition)  # not due yet: not called again
    assert len(reported) == 2


async def test_user_erased_drops_the_fold_state(pipe: Pipeline) -> None:
    b = Browser("c1", SID1)
    reading(b, 1, "https://docs.example/asyncio", PY, 5_000)  # session still open
    await pipe.feed("erin", "c1", b.events)
    await pipe.drain()
    partition = partition_for("erin", pipe.settings.partitions)
    state_key = f"{pipe.settings.key_prefix}:{{p{partition}}}:dwell-state"
    assert await pipe.redis.hexists(state_key, "erin")
    assert pipe.states.users_in_memory == 1
    await erase(pipe, "erin")
    assert not await pipe.redis.hexists(state_key, "erin")
    assert pipe.states.users_in_memory == 0


async def test_user_erased_removes_the_page_texts_and_enrichments_they_brought_in(
    pipe: Pipeline,
) -> None:
    b = Browser("c1", SID1)
    reading(b, 1, "https://docs.example/asyncio", PY, 5_000)
    b.wait(1_000).stop()
    await pipe.feed("erin", "c1", b.events)
    await pipe.drain()
    prefix = pipe.settings.key_prefix
    before = [k async for k in pipe.redis.scan_iter(match=f"{prefix}:*", count=1000)]
    kinds = {k.decode().split(":")[1] for k in before}
    assert {"content", "enrich2", "urlver", "user-content"} <= kinds
    await erase(pipe, "erin")
    after = {k.decode().split(":")[1] async for k in pipe.redis.scan_iter(match=f"{prefix}:*")}
    assert not after & {"content", "enrich2", "urlver", "user-content"}


async def test_erasing_one_reader_keeps_a_page_text_another_reader_holds(
    pipe: Pipeline,
) -> None:
    prefix = pipe.settings.key_prefix
    text_key = content_key(prefix, content_hash(PY))
    first = Browser("c1", SID1)
    reading(first, 1, "https://docs.example/asyncio", PY, 2_000)
    await pipe.feed("alice", "c1", first.events)
    await pipe.drain()
    # Bob reads the same page later: the gateway sent his copy by hash only.
    second = Browser("c2", SID2)
    second.activate(5, "https://docs.example/asyncio")
    second.events.append(
        msgspec.structs.replace(second.content(5, "https://docs.example/asyncio", PY), text="")
    )
    await pipe.feed("bob", "c2", second.events)
    await pipe.drain()

    await erase(pipe, "alice")
    assert await pipe.redis.exists(text_key)  # Bob still reads it
    assert (await ContentStore(pipe.redis, prefix).get_texts([content_hash(PY)])) == {
        content_hash(PY): PY
    }
    await erase(pipe, "bob")
    assert not await pipe.redis.exists(text_key)  # nobody holds it any more
    assert not [k async for k in pipe.redis.scan_iter(match=f"{prefix}:content-holders:*")]


async def test_an_erased_session_releases_the_texts_only_it_held(pipe: Pipeline) -> None:
    prefix = pipe.settings.key_prefix
    text_key = content_key(prefix, content_hash(PY))
    first = Browser("c1", SID1)
    reading(first, 1, "https://docs.example/asyncio", PY, 2_000)
    await pipe.feed("alice", "c1", first.events)
    second = Browser("c2", SID2)
    second.activate(5, "https://docs.example/asyncio")
    second.events.append(
        msgspec.structs.replace(second.content(5, "https://docs.example/asyncio", PY), text="")
    )
    await pipe.feed("bob", "c2", second.events)
    await pipe.drain()

    async def session_erased(user: str, session_id: str) -> None:
        event = SessionErased(
            user_id=user, session_id=session_id, ts=1, content_hashes=[content_hash(PY)]
        )
        partition = partition_for(user, pipe.settings.partitions)
        entry = encode_derived_entry(DerivedEntry(events=[event]))
        await pipe.emit(SESSIONS_TOPIC, partition, entry)
        await pipe.drain()

    await session_erased("alice", SID1)
    assert await pipe.redis.exists(text_key)  # Bob still holds it
    assert not await pipe.redis.sismember(f"{prefix}:user-content:alice", f"t:{content_hash(PY)}")
    await session_erased("bob", SID2)
    assert not await pipe.redis.exists(text_key)


async def test_page_content_without_text_uses_the_stored_text_of_its_hash(pipe: Pipeline) -> None:
    first = Browser("c1", SID1)
    reading(first, 1, "https://docs.example/asyncio", PY, 2_000)
    await pipe.feed("alice", "c1", first.events)
    await pipe.drain()
    # The same text under another URL, sent by hash only (the text is known already).
    mirror = Browser("c2", SID2)
    mirror.activate(5, "https://mirror.example/asyncio")
    mirror.events.append(
        msgspec.structs.replace(mirror.content(5, "https://mirror.example/asyncio", PY), text="")
    )
    mirror.events.pop(-2)
    mirror.wait(1_000).stop()
    await pipe.feed("bob", "c2", mirror.events)
    await pipe.drain()
    discovered = [
        u for u in await pipe.derived(URLS_TOPIC) if isinstance(u, UrlDiscovered) and u.content_hash
    ]
    assert {(u.url, u.text == PY) for u in discovered} == {
        ("https://docs.example/asyncio", True),
        ("https://mirror.example/asyncio", True),
    }
    assert sorted(pipe.counting.enriched) == [
        "https://docs.example/asyncio",
        "https://mirror.example/asyncio",
    ]
