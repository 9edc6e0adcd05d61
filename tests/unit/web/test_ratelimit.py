"""The fixed-window limit decision (sign-ups, account mails)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from web.ratelimit import Limit, decide

LIMIT = Limit(attempts=5, window_s=300)


def test_attempts_within_the_limit_pass_and_the_next_waits_for_the_window() -> None:
    assert all(decide(n, 300, LIMIT).allowed for n in range(1, 6))
    denied = decide(6, 120, LIMIT)
    assert not denied.allowed and denied.retry_after_s == 120


@given(st.integers(1, 100), st.integers(-2, 400))
def test_a_denial_always_says_how_long_to_wait(count: int, ttl: int) -> None:
    result = decide(count, ttl, LIMIT)
    assert result.allowed == (count <= LIMIT.attempts)
    if not result.allowed:
        assert 1 <= result.retry_after_s <= LIMIT.window_s
