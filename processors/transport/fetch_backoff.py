"""A fetch loop's consecutive failures: one warning when they start, one line when they
end, and a growing pause between tries, so a Redis that is down is neither hammered nor
logged once per fetch."""

from __future__ import annotations

import asyncio

from mindhit.logs import get_logger
from processors.transport import metrics

__all__ = ["FetchBackoff"]

log = get_logger(__name__)


class FetchBackoff:
    """Counts the fetches that failed in a row (Redis restarting or unreachable)."""

    def __init__(self) -> None:
        self.failures = 0

    async def failed(self, exc: BaseException) -> None:
        """Count, log the first, and back off (0.1 s, doubling, at most 2 s)."""
        self.failures += 1
        metrics.FETCH_ERRORS.inc()
        if self.failures == 1:
            log.warning("fetch failed; retrying", error=repr(exc))
        await asyncio.sleep(min(0.05 * 2**self.failures, 2.0))

    def succeeded(self) -> None:
        """A fetch answered: say so once after failures."""
        if self.failures:
            log.info("fetching again", failed_attempts=self.failures)
            self.failures = 0
