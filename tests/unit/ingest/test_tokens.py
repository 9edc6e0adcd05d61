"""The token cache: one lookup per token per TTL, shared by concurrent first uses."""

from __future__ import annotations

import asyncio

import pytest

from ingest.tokens import TokenCache, bearer_token
from mindhit.accounts import TokenInfo


class Timer:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


INFO = TokenInfo(user_id="u", token_id="t", revoked=False)


async def test_lookups_are_cached_for_the_ttl_then_refreshed() -> None:
    calls: list[str] = []
    answers = {"mh_a": INFO}

    async def lookup(secret: str) -> TokenInfo | None:
        calls.append(secret)
        await asyncio.sleep(0.01)
        return answers.get(secret)

    timer = Timer()
    cache = TokenCache(lookup, ttl_s=5, timer=timer)
    assert await asyncio.gather(*(cache.resolve("mh_a") for _ in range(20))) == [INFO] * 20
    assert await cache.resolve("mh_unknown") is None
    assert await cache.resolve("mh_unknown") is None
    assert calls == ["mh_a", "mh_unknown"]
    answers["mh_a"] = TokenInfo(user_id="u", token_id="t", revoked=True)
    timer.now += 5.1
    assert (await cache.resolve("mh_a")).revoked  # type: ignore[union-attr]


async def test_a_failed_lookup_is_not_cached() -> None:
    attempts = 0

    async def lookup(secret: str) -> TokenInfo | None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise OSError("database down")
        return INFO

    cache = TokenCache(lookup, ttl_s=5, timer=Timer())
    with pytest.raises(OSError):
        await cache.resolve("mh_a")
    assert await cache.resolve("mh_a") == INFO


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer mh_x") == "mh_x"
    assert bearer_token("bearer  mh_x ") == "mh_x"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None
