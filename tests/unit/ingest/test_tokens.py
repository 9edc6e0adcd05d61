"""The token cache: one lookup per token per TTL, shared by concurrent first uses;
tokens wanted together are looked up in one query."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Sequence

import pytest

from ingest.tokens import Lookup, TokenCache, bearer_token
from mindhit.accounts import TokenInfo


class Timer:
    """Monotonic seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


INFO = TokenInfo(user_id="u", token_id="t", revoked=False)


def each(lookup: Callable[[str], Awaitable[TokenInfo | None]]) -> Lookup:
    """A batched lookup that asks ``lookup`` for each token in turn."""

    async def lookup_many(secrets: Sequence[str]) -> dict[str, TokenInfo]:
        answers = {secret: await lookup(secret) for secret in secrets}
        return {secret: info for secret, info in answers.items() if info is not None}

    return lookup_many


async def test_lookups_are_cached_for_the_ttl_then_refreshed() -> None:
    calls: list[str] = []
    answers = {"mh_a": INFO}

    async def lookup(secret: str) -> TokenInfo | None:
        calls.append(secret)
        await asyncio.sleep(0.01)
        return answers.get(secret)

    timer = Timer()
    cache = TokenCache(each(lookup), ttl_s=5, timer=timer)
    assert await asyncio.gather(*(cache.resolve("mh_a") for _ in range(20))) == [INFO] * 20
    assert await cache.resolve("mh_unknown") is None
    assert await cache.resolve("mh_unknown") is None
    assert calls == ["mh_a", "mh_unknown"]
    answers["mh_a"] = TokenInfo(user_id="u", token_id="t", revoked=True)
    timer.now += 5.1
    assert (await cache.resolve("mh_a")).revoked  # type: ignore[union-attr]


async def test_tokens_first_used_together_are_looked_up_again_apart_never_past_the_ttl() -> None:
    calls: list[str] = []

    async def lookup(secret: str) -> TokenInfo | None:
        calls.append(secret)
        return INFO

    draws = itertools.cycle([0.0, 0.5, 0.99])
    timer = Timer()
    cache = TokenCache(each(lookup), ttl_s=4, timer=timer, spread=0.25, draw=lambda: next(draws))
    for secret in ("mh_a", "mh_b", "mh_c"):  # lifetimes 4 s, 3.5 s, ~3 s
        await cache.resolve(secret)
    timer.now += 3.2  # c expired (looked up again); b and a in their last fifth (refreshed)
    for secret in ("mh_a", "mh_b", "mh_c"):
        assert await cache.resolve(secret) == INFO
    await asyncio.sleep(0)
    assert calls.count("mh_c") == 2 and calls.count("mh_b") == 2
    timer.now = 104.01  # every first answer is past the TTL
    cache = TokenCache(each(lookup), ttl_s=4, timer=timer, spread=0.25, draw=lambda: 0.0)
    calls.clear()
    await cache.resolve("mh_a")
    timer.now += 4.0
    await cache.resolve("mh_a")
    assert calls == ["mh_a", "mh_a"]  # never used past ttl_s, whatever is drawn


async def test_a_failed_lookup_is_not_cached() -> None:
    attempts = 0

    async def lookup(secret: str) -> TokenInfo | None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise OSError("database down")
        return INFO

    cache = TokenCache(each(lookup), ttl_s=5, timer=Timer())
    with pytest.raises(OSError):
        await cache.resolve("mh_a")
    assert await cache.resolve("mh_a") == INFO


class GatedLookup:
    """A batched lookup that answers from ``answers``; once ``gate`` is cleared, lookups
    wait for it. ``batches`` records the tokens of each call."""

    def __init__(self) -> None:
        self.answers: dict[str, TokenInfo | BaseException] = {"mh_a": INFO}
        self.calls = 0
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, secrets: Sequence[str]) -> dict[str, TokenInfo]:
        self.calls += 1
        self.batches.append(list(secrets))
        await self.gate.wait()
        found: dict[str, TokenInfo] = {}
        for secret in secrets:
            answer = self.answers.get(secret)
            if isinstance(answer, BaseException):
                raise answer
            if answer is not None:
                found[secret] = answer
        return found


REVOKED = TokenInfo(user_id="u", token_id="t", revoked=True)


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_token_in_use_is_refreshed_in_the_background_before_it_expires() -> None:
    lookup, timer = GatedLookup(), Timer()
    cache = TokenCache(lookup, ttl_s=5, timer=timer)
    assert await cache.resolve("mh_a") == INFO
    timer.now += 3.5  # 1.5 s left: not yet in the last fifth
    assert await cache.resolve("mh_a") == INFO
    assert lookup.calls == 1
    timer.now += 0.7  # 0.8 s left: a use starts one refresh and does not wait for it
    lookup.answers["mh_a"], lookup.gate = REVOKED, asyncio.Event()
    assert await asyncio.wait_for(cache.resolve("mh_a"), 1) == INFO
    assert await asyncio.wait_for(cache.resolve("mh_a"), 1) == INFO
    await _settle()
    assert lookup.calls == 2  # one refresh for both uses
    lookup.gate.set()
    await _settle()
    timer.now += 1.0  # past the first answer's TTL: the refreshed one is used, no lookup
    assert await cache.resolve("mh_a") == REVOKED
    assert lookup.calls == 2


async def test_an_answer_is_never_used_past_its_ttl_while_its_refresh_is_slow() -> None:
    lookup, timer = GatedLookup(), Timer()
    cache = TokenCache(lookup, ttl_s=5, timer=timer)
    await cache.resolve("mh_a")
    timer.now += 4.5
    lookup.answers["mh_a"], lookup.gate = REVOKED, asyncio.Event()
    assert await cache.resolve("mh_a") == INFO  # within the TTL: cached, refresh started
    timer.now += 1.0  # expired, the refresh still running: the use waits for it
    waiting = asyncio.ensure_future(cache.resolve("mh_a"))
    await _settle()
    assert not waiting.done()
    lookup.gate.set()
    assert await waiting == REVOKED
    assert lookup.calls == 2


async def test_a_failed_background_refresh_leaves_the_lookup_to_the_next_use() -> None:
    lookup, timer = GatedLookup(), Timer()
    cache = TokenCache(lookup, ttl_s=5, timer=timer)
    await cache.resolve("mh_a")
    timer.now += 4.5
    lookup.answers["mh_a"] = OSError("database down")
    assert await cache.resolve("mh_a") == INFO
    await _settle()  # the refresh failed quietly
    lookup.answers["mh_a"] = REVOKED
    timer.now += 1.0
    assert await cache.resolve("mh_a") == REVOKED
    assert lookup.calls == 3


async def test_tokens_wanted_together_share_one_lookup_and_later_ones_wait_for_the_next() -> None:
    lookup, timer = GatedLookup(), Timer()
    lookup.answers |= {"mh_b": REVOKED}
    cache = TokenCache(lookup, ttl_s=5, timer=timer)
    lookup.gate.clear()
    first = asyncio.gather(*(cache.resolve(s) for s in ("mh_a", "mh_b", "mh_x", "mh_a")))
    await _settle()
    assert lookup.batches == [["mh_a", "mh_b", "mh_x"]]  # one query, each token once
    later = asyncio.gather(cache.resolve("mh_c"), cache.resolve("mh_d"), cache.resolve("mh_a"))
    await _settle()
    assert lookup.calls == 1  # one query in flight: the new tokens wait for the next
    lookup.gate.set()
    assert await first == [INFO, REVOKED, None, INFO]
    assert await later == [None, None, INFO]
    assert lookup.batches == [["mh_a", "mh_b", "mh_x"], ["mh_c", "mh_d"]]


async def test_a_failed_lookup_fails_every_token_of_its_query_and_is_not_cached() -> None:
    lookup, timer = GatedLookup(), Timer()
    cache = TokenCache(lookup, ttl_s=5, timer=timer)
    lookup.answers["mh_b"] = OSError("database down")
    results = await asyncio.gather(
        cache.resolve("mh_a"), cache.resolve("mh_b"), return_exceptions=True
    )
    assert all(isinstance(r, OSError) for r in results)
    del lookup.answers["mh_b"]
    assert await cache.resolve("mh_a") == INFO
    assert await cache.resolve("mh_b") is None
    assert lookup.batches == [["mh_a", "mh_b"], ["mh_a"], ["mh_b"]]


async def test_a_large_burst_is_split_into_queries_of_max_batch() -> None:
    lookup, timer = GatedLookup(), Timer()
    cache = TokenCache(lookup, ttl_s=5, timer=timer, max_batch=3)
    assert await asyncio.gather(*(cache.resolve(f"mh_{i}") for i in range(7))) == [None] * 7
    assert [len(batch) for batch in lookup.batches] == [3, 3, 1]


def test_bearer_header_parsing() -> None:
    assert bearer_token("Bearer mh_x") == "mh_x"
    assert bearer_token("bearer  mh_x ") == "mh_x"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None
