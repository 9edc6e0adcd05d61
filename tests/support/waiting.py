"""Polling a condition with a deadline, for tests that watch processes settle."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["wait_until"]


async def wait_until(
    check: Callable[[], Awaitable[bool]], what: str, timeout: float = 60.0
) -> float:
    """Poll ``check`` every 0.1 s until it is true; return the seconds it took.

    Raises:
        AssertionError: ``timeout`` seconds passed first (the message names ``what``).
    """
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        if await check():
            return time.monotonic() - began
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
