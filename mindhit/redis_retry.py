"""Waiting for Redis to answer: what a start-up (and a rebalance) does instead of exiting.

A step that must succeed before a component can work — the processors' topic
declarations, joining the group, taking partition leases, reading committed offsets —
used to end the process when Redis could not be reached: a worker started while the
URL's node was down, or while a cluster master was failing over (seen once in the
chaos soak), exited with ``ConnectionError``. :func:`until_reachable` runs such a step
again until Redis answers instead, backing off from 0.1 s to 2 s, and says so in one
structured log line, ``redis_unreachable_retrying`` (``what``, ``attempt``, ``error``,
``retry_in_s``; on the 1st failure, then every 10th), and ``redis_reachable_again`` once
the step went through. The component's readiness stays false meanwhile (its
``/readyz`` pings Redis), its liveness true: an orchestrator waits instead of
restarting it. Only the errors that mean "not reachable now"
(:data:`mindhit.redis_client.UNREACHABLE`) are retried; every step given here must be
safe to run twice (reads, ``HSETNX``, heartbeats, lease renewals of the same member).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from mindhit.logs import get_logger
from mindhit.redis_client import UNREACHABLE

__all__ = ["LOGGED_EVERY", "backoff_s", "until_reachable"]

log = get_logger(__name__)

T = TypeVar("T")

LOGGED_EVERY = 10
"""A step that keeps failing is logged on its 1st, 11th, 21st… failure (about 20 s apart)."""


def backoff_s(failures: int, *, first: float = 0.1, cap: float = 2.0) -> float:
    """The pause after ``failures`` failures in a row: ``first`` doubling up to ``cap``.

    >>> [backoff_s(n) for n in (1, 2, 3, 5, 9)]
    [0.1, 0.2, 0.4, 1.6, 2.0]
    """
    return float(min(first * 2 ** (failures - 1), cap))


async def until_reachable(
    step: Callable[[], Awaitable[T]],
    *,
    what: str,
    stopping: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Run ``step`` until it does not fail with an unreachable Redis; return its result.

    Steps:
        1. Run ``step``; on success, log ``redis_reachable_again`` if it had failed, return.
        2. On an :data:`~mindhit.redis_client.UNREACHABLE` error: if ``stopping()``, raise
           it; else log ``redis_unreachable_retrying`` (1st failure, then every
           :data:`LOGGED_EVERY`th), sleep :func:`backoff_s` and go to 1.
    Any other error is raised at once.
    """
    failures = 0
    while True:
        try:
            result = await step()
        except UNREACHABLE as exc:
            failures += 1
            if stopping():
                raise
            pause = backoff_s(failures)
            if failures % LOGGED_EVERY == 1:
                log.warning(
                    "redis_unreachable_retrying",
                    what=what,
                    attempt=failures,
                    error=repr(exc),
                    retry_in_s=pause,
                )
            await sleep(pause)
            continue
        if failures:
            log.info("redis_reachable_again", what=what, failed_attempts=failures)
        return result
