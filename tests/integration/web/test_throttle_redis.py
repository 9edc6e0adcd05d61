"""throttle.lua applies exactly the rule of the pure web.throttle.reserve/succeed, on real Redis."""

from __future__ import annotations

import random

import pytest
import redis.asyncio as aioredis

from web.throttle import Bucket, Policy, SignInThrottle, reserve, succeed

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

PAIR = Policy(free=3, base_ms=1_000, max_ms=8_000, ttl_ms=60_000)
ADDRESS = Policy(free=6, base_ms=500, max_ms=4_000, ttl_ms=60_000)


async def test_the_script_and_the_pure_rule_agree(aredis: aioredis.Redis, key_prefix: str) -> None:
    throttle = SignInThrottle(aredis, key_prefix, pair_policy=PAIR, address_policy=ADDRESS)
    rng = random.Random(12)
    pairs: dict[tuple[str, str, str | None], Bucket] = {}
    addresses: dict[str, Bucket] = {}
    now = 1_700_000_000_000
    outcomes: set[bool] = set()
    for step in range(400):
        now += rng.choice([0, 10, 300, 900, 2_500])
        account = rng.choice(["ann@x.test", "bob@x.test"])
        address = rng.choice(["192.0.2.1", "192.0.2.2", "2001:db8::1"])
        device = rng.choice([None, None, "dev1"])
        key = (account, address if device is None else "", device)
        pair = pairs.get(key, Bucket())
        where = None if device else addresses.get(address, Bucket())
        if rng.random() < 0.15:
            await throttle.succeeded(account, address, now_ms=now, device=device)
            pairs[key] = Bucket()
            if where is not None:
                addresses[address] = succeed(where, ADDRESS) or Bucket()
            continue
        decision = await throttle.attempt(account, address, now_ms=now, device=device)
        pair, where, expected = reserve(pair, where, now, pair_policy=PAIR, address_policy=ADDRESS)
        assert decision == expected, (step, key)
        outcomes.add(decision.allowed)
        pairs[key] = pair
        if where is not None:
            addresses[address] = where
    assert outcomes == {True, False}  # both branches of the rule were exercised
