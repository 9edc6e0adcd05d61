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
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import redis.exceptions
from faust.exceptions import ProducerSendError
from prometheus_client import Counter

from mindhit.logs import get_logger

__all__ = ["FAILED_ENTRIES", "RETRIES", "handle_reliably", "is_transient"]

log = get_logger(__name__)

FAILED_ENTRIES = Counter(
    "mindhit_processors_failed_entries_total", "Entries skipped after a handler error", ["agent"]
)
RETRIES = Counter(
    "mindhit_processors_retries_total",
    "Handler attempts retried after a transient error",
    ["agent"],
)


def is_transient(exc: BaseException) -> bool:
    """Whether retrying the same entry later may succeed (Redis trouble, not a bug)."""
    if isinstance(
        exc,
        (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            redis.exceptions.BusyLoadingError,
            ProducerSendError,
            ConnectionError,
            TimeoutError,
        ),
    ):
        return True
    return isinstance(exc, redis.exceptions.ResponseError) and str(exc).startswith(
        ("OOM", "LOADING", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN")
    )


async def handle_reliably(
    agent: str,
    handle: Callable[[int, bytes], Awaitable[None]],
    partition: int,
    value: bytes,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    first_backoff_s: float = 0.1,
    max_backoff_s: float = 5.0,
) -> bool:
    """Run ``handle(partition, value)`` until it succeeds or fails for good.

    Returns:
        True when the entry was handled, False when it was skipped.
    """
    backoff = first_backoff_s
    while True:
        try:
            await handle(partition, value)
            return True
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
                return False
            FAILED_ENTRIES.labels(agent).inc()
            log.error(
                "entry_skipped", agent=agent, partition=partition, error=repr(exc), exc_info=exc
            )
            return False
