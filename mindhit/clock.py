"""The one clock type: wall-clock time as Unix milliseconds, injected everywhere.

Event times in the log are Unix milliseconds (the client's ``ts``, the gateway's
``received_at``), so every component takes a :data:`Clock` returning the same unit
instead of calling ``time.time()`` or ``datetime.now()`` in its logic; tests hand in
a clock they move by hand. Code that needs a ``datetime`` (SQL timestamps, cookies)
converts at its edge with :func:`utc_datetime`. Durations and timeouts measured on
``time.monotonic`` are not clocks in this sense and keep their own type.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "system_clock", "utc_datetime"]

Clock = Callable[[], int]
"""A wall clock: the current time as Unix milliseconds."""


def system_clock() -> int:
    """The real wall clock, Unix milliseconds."""
    return time.time_ns() // 1_000_000


def utc_datetime(ms: int) -> datetime:
    """Unix milliseconds as a timezone-aware UTC ``datetime``."""
    return datetime.fromtimestamp(ms / 1000, UTC)
