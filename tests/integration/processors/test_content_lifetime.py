"""The content store's lifetime: what nobody uses for ``ttl_s`` leaves Redis.

Real Redis; the lifetime is read back with ``TTL`` (no waiting): every key a text, a URL
version or an enrichment makes is given the lifetime, and a later use renews it.
"""

from __future__ import annotations

import hashlib

import pytest
import redis.asyncio as aioredis

from mindhit.streams import content_holders_key, content_key
from processors.content import CachedEnrichment, ContentStore

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

DAY = 86_400


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def test_every_key_a_text_makes_expires_and_a_later_use_renews_it(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    store = ContentStore(aredis, key_prefix, ttl_s=30 * DAY)
    text = "a page somebody read"
    await store.put_texts([(_hash(text), text)], "u1")
    keys = [
        content_key(key_prefix, _hash(text)),
        content_holders_key(key_prefix, _hash(text)),
        f"{key_prefix}:user-content:u1",
    ]
    for key in keys:
        assert 29 * DAY < await aredis.ttl(key) <= 30 * DAY, key
    # time passes (simulated: the lifetime shortened), then another user names the text
    for key in keys:
        await aredis.expire(key, 60)
    await store.hold_texts([_hash(text)], "u2")
    assert await aredis.ttl(content_key(key_prefix, _hash(text))) > 29 * DAY
    assert await aredis.ttl(content_holders_key(key_prefix, _hash(text))) > 29 * DAY
    assert await aredis.ttl(f"{key_prefix}:user-content:u2") > 29 * DAY
    assert await store.get_texts([_hash(text)]) == {_hash(text): text}


async def test_url_versions_and_enrichments_expire(aredis: aioredis.Redis, key_prefix: str) -> None:
    store = ContentStore(aredis, key_prefix, ttl_s=7 * DAY)
    version = ("urlhash", "texthash")
    await store.mark_versions([version], {version: "u1"})
    await store.put_enrichment(
        *version,
        CachedEnrichment(summary="s", tags=[], topic="t", provider="local", enriched_ts=1),
    )
    for key in (
        f"{key_prefix}:urlver:urlhash:texthash",
        f"{key_prefix}:enrich2:urlhash:texthash",
        f"{key_prefix}:user-content:u1",
    ):
        assert 6 * DAY < await aredis.ttl(key) <= 7 * DAY, key


async def test_without_a_lifetime_nothing_expires(aredis: aioredis.Redis, key_prefix: str) -> None:
    store = ContentStore(aredis, key_prefix)
    await store.put_texts([(_hash("kept"), "kept")], "u1")
    assert await aredis.ttl(content_key(key_prefix, _hash("kept"))) == -1
