"""The gateway's per-user quotas (``ingest/quota.lua``) on the real Redis, clock injected."""

from __future__ import annotations

import msgspec
import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.app import create_app
from ingest.quota import QuotaLimiter, QuotaPolicy, quota_key
from mindhit.settings import Settings
from schema.api import ErrorBody
from schema.ids import uuid7
from tests.integration.ingest.conftest import Account, serve

pytestmark = [pytest.mark.integration, pytest.mark.cluster]
POLICY = QuotaPolicy(requests_per_s=2, request_burst=3, bytes_per_s=1000, byte_burst=5000)


async def test_a_burst_then_the_sustained_rate_and_an_honest_retry_after(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    quota = QuotaLimiter(aredis, key_prefix, POLICY)
    now = 1_000_000
    assert [(await quota.take("u1", 10, now)).allowed for _ in range(4)] == [1, 1, 1, 0]
    refused = await quota.take("u1", 10, now)
    assert (refused.quota, refused.retry_after_s) == ("requests", 1)
    # half a second later (2/s) one request has refilled, and only one
    assert (await quota.take("u1", 10, now + 500)).allowed
    assert not (await quota.take("u1", 10, now + 500)).allowed
    # another user's buckets are their own
    assert (await quota.take("u2", 10, now)).allowed


async def test_bytes_are_charged_and_a_refused_request_takes_nothing(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    quota = QuotaLimiter(aredis, key_prefix, POLICY)
    now = 2_000_000
    assert (await quota.take("u1", 4000, now)).allowed
    refused = await quota.take("u1", 4000, now)
    assert (refused.quota, refused.retry_after_s) == ("bytes", 3)  # 3000 short at 1000/s
    # what was refused was not taken: 1000 bytes left, and a small request passes
    assert (await quota.take("u1", 1000, now)).allowed
    assert (await quota.take("u1", 3000, now + 3000)).allowed


async def test_a_clock_behind_refills_nothing_and_idle_buckets_expire(
    aredis: aioredis.Redis, key_prefix: str
) -> None:
    quota = QuotaLimiter(aredis, key_prefix, POLICY)
    now = 3_000_000
    for _ in range(3):
        assert (await quota.take("u1", 0, now)).allowed
    # another gateway's clock, a minute behind: no free tokens
    assert not (await quota.take("u1", 0, now - 60_000)).allowed
    ttl_ms = await aredis.pttl(quota_key(key_prefix, "u1"))
    assert 0 < ttl_ms <= 1500 + 1000  # full again after 1.5 s, plus a second


async def test_no_quota_touches_no_redis(aredis: aioredis.Redis, key_prefix: str) -> None:
    off = QuotaPolicy(requests_per_s=0, request_burst=1, bytes_per_s=0, byte_burst=0)
    quota = QuotaLimiter(aredis, key_prefix, off)
    assert all([(await quota.take("u1", 10**9, 0)).allowed for _ in range(10)])
    assert not await aredis.exists(quota_key(key_prefix, "u1"))


async def test_session_calls_are_charged_too(settings: Settings, account: Account) -> None:
    tight = msgspec.structs.replace(settings, quota_requests_per_s=0.1, quota_request_burst=2)
    async with serve(create_app(tight)) as client:
        answers = [await client.post("/v1/sessions", headers=account.headers) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    refused = msgspec.json.decode(answers[2].content, type=ErrorBody)
    assert refused.field == "quota.requests"
    assert int(answers[2].headers["retry-after"]) >= 1


_steps = st.lists(
    st.tuples(st.integers(0, 3_000), st.integers(0, POLICY.byte_burst)), min_size=1, max_size=25
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=_steps)
async def test_what_is_taken_never_exceeds_burst_plus_refill_and_retry_after_is_honest(
    aredis: aioredis.Redis, key_prefix: str, steps: list[tuple[int, int]]
) -> None:
    quota = QuotaLimiter(aredis, key_prefix, POLICY)
    user, now, start = f"u-{uuid7()}", 10_000_000, 10_000_000
    requests = taken_bytes = 0
    for gap_ms, cost in steps:
        now += gap_ms
        decision = await quota.take(user, cost, now)
        if decision.allowed:
            requests, taken_bytes = requests + 1, taken_bytes + cost
        else:
            # waiting Retry-After out is enough for this very request
            later = now + decision.retry_after_s * 1000
            assert (await QuotaLimiter(aredis, key_prefix, POLICY).take(user, cost, later)).allowed
            now, requests, taken_bytes = later, requests + 1, taken_bytes + cost
        elapsed_s = (now - start) / 1000
        assert requests <= POLICY.request_burst + POLICY.requests_per_s * elapsed_s
        assert taken_bytes <= POLICY.byte_burst + POLICY.bytes_per_s * elapsed_s
