"""The content store's lifetime: what nobody uses for ``ttl_s`` leaves Redis.

Real Redis; the lifetime is read back with ``TTL`` (no waiting): every key a text, a URL
version or an enrichment makes is given the lifetime, and a later use renews it.
"""

from __future__ import annotations

import hashlib
import zlib
from typing import Any

import pytest
import redis.asyncio as aioredis

from mindhit.streams import content_holders_key, content_key, url_versions_token_key
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


async def _content_keys(client: aioredis.Redis, prefix: str) -> dict[str, tuple[Any, int]]:
    """Every key under ``prefix`` (named without it): its value or members, and its TTL;
    not the URL versions' token (random, no lifetime: processors/announced.py)."""
    found: dict[str, tuple[Any, int]] = {}
    key: bytes
    async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        if key == url_versions_token_key(prefix).encode():
            continue
        kind = (await client.type(key)).decode()  # type: ignore[union-attr]
        value: Any = (
            await client.get(key) if kind == "string" else sorted(await client.smembers(key))
        )
        found[key.decode()[len(prefix) :]] = (value, await client.ttl(key))
    return found


@pytest.mark.parametrize("ttl_s", [0, 30 * DAY])
async def test_one_script_writes_what_the_commands_one_by_one_write(
    aredis: aioredis.Redis, key_prefix: str, ttl_s: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # take_entry stores texts and holds with one take_texts.lua call on a standalone Redis,
    # and one command per key on a cluster: the same keys, members and lifetimes.
    shared, known = "a page two users read", "a page sent by hash only"
    texts = {
        "u1": [(_hash(shared), shared), (_hash("u1 only"), "u1 only")],
        "u2": [(_hash(shared), shared)],
        "u3": [],
    }
    held = {"u2": [_hash(known), _hash(known), ""], "u4": [_hash(known)], "u5": []}
    versions = [("urlhash", _hash(shared)), ("urlhash", "")]
    written: list[dict[str, Any]] = []
    for one_call in (True, False):
        prefix = f"{key_prefix}:{int(one_call)}"
        with monkeypatch.context() as patch:
            if not one_call:  # as on a cluster (a standalone Redis answers GET each too)
                patch.setattr("processors.content.is_cluster", lambda _client: True)
                patch.setattr("processors.announced.is_cluster", lambda _client: True)
            fresh = await ContentStore(aredis, prefix, ttl_s=ttl_s).take_entry(
                texts, held, versions
            )
        assert fresh == versions
        keys = await _content_keys(aredis, prefix)
        for key, (_, ttl) in keys.items():
            assert (ttl == -1) if not ttl_s else (ttl_s - 60 < ttl <= ttl_s), key
        written.append({key: value for key, (value, _) in keys.items()})
    assert written[0] == written[1]
    assert zlib.decompress(written[0][f":content:{{{_hash(shared)}}}"]) == shared.encode()
    assert written[0][f":content-holders:{{{_hash(shared)}}}"] == [b"u1", b"u2"]
    assert written[0][f":content-holders:{{{_hash(known)}}}"] == [b"u2", b"u4"]
    assert written[0][":user-content:u2"] == sorted(
        f"t:{h}".encode() for h in (_hash(known), _hash(shared))
    )
