"""Keeping an agent alive: transient failures are retried, a poison entry is skipped.

A Faust agent whose loop raises stops consuming, so every handler call goes
through :func:`handle_reliably`:

* Redis unreachable, timing out, loading, out of memory, or the producer failing
  to append: wait (exponential backoff up to ``max_backoff_s``) and retry the same
  entry — handlers are idempotent, so a half-done attempt is harmless;
* ``FENCED`` (this worker lost the partition's lease, e.g. paused past it, so its
  state save was refused): the entry is the new owner's to fold; it is skipped
  without counting it as failed (the worker's offset commit is fenced too);
* anything else is a bug or an entry the handler cannot process: log it with the
  position, count it (``mindhit_processors_failed_entries_total``) and move on.
  The entry stays in the log (the source of truth), so a fixed build can replay it.

Several entries handled in one call (:func:`handle_batch_reliably`) are retried
together; when the call fails for good, each entry is handled alone, so only the entry
the handler cannot process is skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from enum import Enum
from typing import TypeVar

import redis.exceptions
from faust.exceptions import ProducerSendError
from prometheus_client import Counter

from mindhit.logs import get_logger
from mindhit.redis_client import redirected_only

__all__ = ["FAILED_ENTRIES", "RETRIES", "handle_batch_reliably", "handle_reliably", "is_transient"]

T = TypeVar("T")

log = get_logger(__name__)

FAILED_ENTRIES = Counter(
    "mindhit_processors_failed_entries_total", "Entries skipped after a handler error", ["agent"]
)
RETRIES = Counter(
    "mindhit_processors_retries_total",
    "Handler attempts retried after a transient error",
    ["agent"],
)


_TRANSIENT = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    # redis-py drops the error code from these replies' messages (OOM, TRYAGAIN,
    # CLUSTERDOWN, MASTERDOWN, READONLY: a demoted master after a failover).
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.MasterDownError,
    redis.exceptions.ReadOnlyError,
    ProducerSendError,
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same entry later may succeed (Redis trouble, not a bug).

    Also a Redis Cluster command redis-py gave up on while its slot was moving
    (:func:`mindhit.redis_client.redirected_only`), and an error code carried in a
    script's error message (``OOM``, ``TRYAGAIN``, ...).
    """
    if isinstance(exc, _TRANSIENT) or redirected_only(exc):
        return True
    return isinstance(exc, redis.exceptions.ResponseError) and str(exc).startswith(
        ("OOM", "LOADING", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "READONLY")
    )


class _Outcome(Enum):
    DONE = "done"
    FENCED = "fenced"
    FAILED = "failed"


async def _attempt(
    agent: str,
    handle: Callable[[int, T], Awaitable[None]],
    partition: int,
    value: T,
    sleep: Callable[[float], Awaitable[None]],
    first_backoff_s: float,
    max_backoff_s: float,
) -> _Outcome:
    """Run ``handle(partition, value)``, retrying transient errors; how it ended."""
    backoff = first_backoff_s
    while True:
        try:
            await handle(partition, value)
            return _Outcome.DONE
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if is_transient(exc):
                RETRIES.labels(agent).inc()
                log.warning(
                    "handler_retry",
                    agent=agent,
                    partition=partition,
                    error=repr(exc),
                    wait_s=backoff,
                )
                await sleep(backoff)
                backoff = min(max_backoff_s, backoff * 2)
                continue
            if isinstance(exc, redis.exceptions.ResponseError) and "FENCED" in str(exc):
                log.warning("entry_fenced", agent=agent, partition=partition, error=str(exc))
                return _Outcome.FENCED
            log.error(
                "handler_failed", agent=agent, partition=partition, error=repr(exc), exc_info=exc
            )
            return _Outcome.FAILED


async def handle_reliably(
    agent: str,
    handle: Callable[[int, T], Awaitable[None]],
    partition: int,
    value: T,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    first_backoff_s: float = 0.1,
    max_backoff_s: float = 5.0,
) -> bool:
    """Run ``handle(partition, value)`` until it succeeds or fails for good.

    Returns:
        True when the entry was handled, False when it was skipped.
    """
    outcome = await _attempt(agent, handle, partition, value, sleep, first_backoff_s, max_backoff_s)
    if outcome is _Outcome.FAILED:
        FAILED_ENTRIES.labels(agent).inc()
        log.error("entry_skipped", agent=agent, partition=partition)
    return outcome is _Outcome.DONE


async def handle_batch_reliably(
    agent: str,
    handle: Callable[[int, Sequence[T]], Awaitable[None]],
    partition: int,
    values: Sequence[T],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    first_backoff_s: float = 0.1,
    max_backoff_s: float = 5.0,
) -> int:
    """Run ``handle(partition, values)`` for entries of one partition, in log order.

    Steps: 1. handle them all in one call, retrying transient errors (the handler is
    idempotent); 2. fenced: skip them all (the partition is another worker's now);
    3. failed for good with more than one entry: handle each alone
    (:func:`handle_reliably`), in order, so only an entry the handler cannot process
    is skipped.

    Returns:
        How many of the entries were handled.
    """
    outcome = await _attempt(
        agent, handle, partition, values, sleep, first_backoff_s, max_backoff_s
    )
    if outcome is _Outcome.DONE:
        return len(values)
    if outcome is _Outcome.FENCED:
        return 0
    if len(values) == 1:
        FAILED_ENTRIES.labels(agent).inc()
        log.error("entry_skipped", agent=agent, partition=partition)
        return 0
    handled = 0
    for value in values:
        handled += await handle_reliably(
            agent,
            handle,
            partition,
            [value],
            sleep=sleep,
            first_backoff_s=first_backoff_s,
            max_backoff_s=max_backoff_s,
        )
    return handled
