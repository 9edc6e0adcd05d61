"""URL versions kept as announced in memory answer as Redis's markers would.

Real Redis: what the memory answers is checked against what a store with empty memory
answers, across the three ways a marker goes away (expiry, erasure, data loss) and a
deletion that races a write.
"""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from mindhit.settings import Settings
from mindhit.streams import url_versions_token_key
from processors.announced import AnnouncedVersions
from processors.content import ContentStore
from schema.derived import UrlDiscovered
from schema.topics import URLS_TOPIC
from tests.integration.processors.pipeline import Pipeline
from tests.integration.processors.test_pipeline import PY, SID1, SID2, SID3, erase, reading
from tests.unit.processors.browsing import Browser

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

DAY = 86_400
A, B = ("urlhash-a", "texthash"), ("urlhash-b", "")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def _unknown(store: ContentStore, versions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return await store.take_entry({}, {}, versions)


async def test_a_version_seen_announced_is_answered_from_memory_until_its_marker_expires(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    clock = Clock()
    store = ContentStore(aredis, key_prefix, ttl_s=7 * DAY)
    store.versions = AnnouncedVersions(aredis, key_prefix, ttl_s=7 * DAY, clock=clock)
    other = ContentStore(aredis, key_prefix, ttl_s=7 * DAY)  # another worker, empty memory
    assert await _unknown(store, [A, B]) == [A, B]
    seen = store.versions.token()
    await store.mark_versions([A])
    store.versions.remember([A], seen)
    await other.mark_versions([B])
    assert await _unknown(store, [A, B]) == []  # A from memory, B read (and kept)
    # Both markers vanish without a deletion anybody could see (as an expiry would).
    await aredis.delete(
        f"{key_prefix}:urlver:urlhash-a:texthash", f"{key_prefix}:urlver:urlhash-b:"
    )
    assert await _unknown(store, [A, B]) == []  # kept: their markers live for days
    clock.now += 7 * DAY - 60
    assert await _unknown(store, [A, B]) == []
    clock.now += 60  # A's marker written, B's read a moment before: both expired now
    assert await _unknown(store, [A, B]) == [A, B]
    assert await _unknown(other, [A, B]) == [A, B]


async def test_an_erasure_drops_what_every_worker_kept(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    store, eraser = ContentStore(aredis, key_prefix), ContentStore(aredis, key_prefix)
    assert await _unknown(store, [A, B]) == [A, B]
    await store.mark_versions([A, B], {A: "u1", B: "u2"})
    assert await _unknown(store, [A, B]) == []
    assert await _unknown(store, [B, A]) == []  # both kept now
    await eraser.erase_user("u1")  # another worker's erasure: A's marker goes
    assert await _unknown(store, [B, A]) == [A]  # A asked again in a second round trip
    assert await _unknown(store, [A]) == [A]


async def test_redis_restarted_empty_drops_what_was_kept(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    store = ContentStore(aredis, key_prefix)
    await store.mark_versions([A])
    assert await _unknown(store, [A]) == []  # the token made: answered, not kept
    assert await _unknown(store, [A]) == []  # kept
    await aredis.delete(
        f"{key_prefix}:urlver:urlhash-a:texthash", url_versions_token_key(key_prefix)
    )
    assert await _unknown(store, [A]) == [A]


async def test_a_write_seen_before_a_deletion_is_not_kept(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    store, eraser = ContentStore(aredis, key_prefix), ContentStore(aredis, key_prefix)
    assert await _unknown(store, [A, B]) == [A, B]
    seen = store.versions.token()
    await store.mark_versions([A], {A: "u1"})
    await eraser.erase_user("u1")
    assert await _unknown(store, [B]) == [B]  # this worker sees the new token ...
    store.versions.remember([A], seen)  # ... before its write of A is confirmed
    assert await _unknown(store, [A]) == [A]


async def test_revoked_partitions_drop_what_was_kept(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    store = ContentStore(aredis, key_prefix)
    await store.mark_versions([A])
    assert await _unknown(store, [A]) == []  # the token made: answered, not kept
    assert await _unknown(store, [A]) == []  # kept
    await aredis.delete(f"{key_prefix}:urlver:urlhash-a:texthash")  # as a lost write would
    store.versions.forget()
    assert await _unknown(store, [A]) == [A]


async def test_after_erasing_its_first_reader_the_next_reader_announces_a_page_again(
    aredis: aioredis.Redis, settings: Settings
) -> None:
    pipe = Pipeline(aredis, settings)
    url = "https://docs.example/asyncio"
    for user, session in (("alice", SID1), ("bob", SID2)):
        b = Browser(f"{user}-laptop", session)
        reading(b, 1, url, PY, 4_000)
        b.stop()
        await pipe.feed(user, f"{user}-laptop", b.events)
        await pipe.drain()
    discovered = [u for u in await pipe.derived(URLS_TOPIC) if isinstance(u, UrlDiscovered)]
    assert {u.user_id for u in discovered} == {"alice"}  # bob's read answered from memory
    await erase(pipe, "alice")
    carol = Browser("carol-laptop", SID3)
    reading(carol, 1, url, PY, 4_000)
    carol.stop()
    await pipe.feed("carol", "carol-laptop", carol.events)
    await pipe.drain()
    discovered = [u for u in await pipe.derived(URLS_TOPIC) if isinstance(u, UrlDiscovered)]
    assert {u.user_id for u in discovered} == {"alice", "carol"}
    assert {(u.url_hash, u.content_hash) for u in discovered if u.user_id == "carol"} == {
        (u.url_hash, u.content_hash) for u in discovered if u.user_id == "alice"
    }


async def test_what_is_read_with_a_new_token_is_answered_but_not_kept(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    # A cluster reads the token and the markers node by node: a marker read with a new
    # token may have been read before the deletion that made the token new.
    store = ContentStore(aredis, key_prefix)
    await store.mark_versions([A])
    assert await _unknown(store, [A]) == []  # a token new to this store: answered, not kept
    await aredis.delete(f"{key_prefix}:urlver:urlhash-a:texthash")  # read before it went
    assert await _unknown(store, [A]) == [A]
