"""The sign-in throttle rule (web.throttle.reserve): strangers cannot lock the owner out."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from web.throttle import (
    ACCOUNT_POLICY,
    Bucket,
    Policy,
    address_bucket,
    device_cookie,
    device_id,
    reserve,
)

POLICY = Policy(free=5, base_ms=10_000, max_ms=900_000, ttl_ms=86_400_000)
steps = st.lists(st.integers(0, 20_000), min_size=1, max_size=60)  # ms between attempts


@given(steps)
def test_the_first_attempts_are_free_and_later_ones_wait_longer_and_longer(gaps: list[int]) -> None:
    pair, now, waits = Bucket(), 1_000_000, []
    for gap in gaps:
        now += gap
        before = pair
        pair, _, decision = reserve(pair, None, now, pair_policy=POLICY)
        assert decision.allowed == (decision.retry_after_ms == 0)
        if before.n < POLICY.free - 1:
            assert decision.allowed and pair.next_ms == 0
        if not decision.allowed:
            assert pair == before  # a refused attempt changes nothing
            assert 0 < decision.retry_after_ms <= POLICY.max_ms
        elif pair.next_ms:
            waits.append(pair.next_ms - now)
    assert waits == sorted(waits) and all(w <= POLICY.max_ms for w in waits)


@given(steps)
def test_at_most_one_attempt_per_wait(gaps: list[int]) -> None:
    pair, now, allowed_at = Bucket(), 1_000_000, []
    for gap in gaps:
        now += gap
        pair, _, decision = reserve(pair, None, now, pair_policy=POLICY)
        if decision.allowed:
            allowed_at.append(now)
    # Beyond the free attempts, two allowed attempts are at least base_ms apart.
    late = allowed_at[POLICY.free - 1 :]
    assert all(b - a >= POLICY.base_ms for a, b in itertools.pairwise(late))


@given(st.integers(0, 50))
def test_an_exhausted_address_bucket_refuses_even_a_fresh_account(tries: int) -> None:
    address = Bucket(n=25, next_ms=2_000_000)
    _, after, decision = reserve(Bucket(), address, 1_000_000 + tries)
    assert not decision.allowed and after == address
    _, _, known_device = reserve(Bucket(), None, 1_000_000 + tries)  # a known browser skips it
    assert known_device.allowed


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    _, _, decision = reserve(Bucket(n=9, next_ms=1_000_001), None, 1_000_000)
    assert decision.retry_after_s == 1
    _, _, decision = reserve(Bucket(n=9, next_ms=1_010_001), None, 1_000_000)
    assert decision.retry_after_s == 11
    assert ACCOUNT_POLICY.free == 5


def test_ipv6_clients_are_counted_per_slash_64() -> None:
    assert address_bucket("2001:db8:1:2:aaaa::1") == address_bucket("2001:db8:1:2:ffff::9")
    assert address_bucket("2001:db8:1:3::1") != address_bucket("2001:db8:1:2::1")
    assert address_bucket("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_bucket("192.0.2.1") != address_bucket("192.0.2.2")


def test_a_device_cookie_is_only_valid_for_the_account_it_was_issued_to() -> None:
    cookie = device_cookie("secret", "user-a", "nonce1")
    assert device_id("secret", "user-a", cookie) == "nonce1"
    assert device_id("secret", "user-b", cookie) is None
    assert device_id("other secret", "user-a", cookie) is None
    assert device_id("secret", "user-a", "nonce1.forged") is None
    assert device_id("secret", None, cookie) is None
