"""One bounded, visible retry loop for the remote AI providers (OpenAI, Anthropic).

Why our own loop: SDK clients retry on their own with hidden waits, so a stuck session
would hide behind them. The providers turn the SDK's retries off (``max_retries=0``) and
call :func:`call_with_retries`, which retries 429 and 5xx answers, timeouts, dropped
connections and malformed model answers with exponential backoff (a server's
``Retry-After`` wins, capped at the call timeout) and fails at once on any other 4xx.
After the last attempt :class:`processors.ai.base.AIError` carries the reason.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import msgspec

from mindhit.logs import get_logger
from processors.ai.base import AIError
from processors.ai.text import short_label

__all__ = [
    "Failure",
    "Malformed",
    "RetryPolicy",
    "call_with_retries",
    "retry_after",
    "status_failure",
]

T = TypeVar("T")
A = TypeVar("A")
log = get_logger(__name__)

_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s?\s*$")


class Malformed(ValueError):
    """The model answered, but not with what the schema and our rules require."""


class Failure(msgspec.Struct, frozen=True):
    """How one failed call is handled: its reason, whether to retry, the server's wait."""

    reason: str
    retryable: bool
    delay_s: float | None = None


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Attempts, per-call timeout and first backoff of a provider."""

    vendor: str
    attempts: int = 3
    timeout_s: float = 30.0
    backoff_s: float = 0.5


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    """The wait a ``Retry-After`` header asks for (seconds form), if any."""
    match = _DELAY.match(str((headers or {}).get("retry-after", "")))
    return float(match.group(1)) if match else None


async def call_with_retries(
    call: Callable[[], Awaitable[A]],
    parse: Callable[[A], T],
    classify: Callable[[BaseException], Failure | None],
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Call until a valid answer or the attempts run out.

    Steps per attempt: 1. call within the timeout; 2. on an exception, ``classify`` it
    (``None`` = not ours: re-raised); a non-retryable failure raises :class:`AIError`
    at once; 3. on an answer, ``parse`` and validate it, returning it when valid
    (:class:`Malformed` or a msgspec error counts as a malformed answer); 4. if attempts
    remain, sleep (backoff or server delay, capped at the timeout) and go again.

    Raises:
        AIError: the last failure's reason, after ``policy.attempts`` attempts.
    """
    attempts = max(1, policy.attempts)
    failure = Failure("no attempt made", True)
    for attempt in range(1, attempts + 1):
        delay = policy.backoff_s * 2 ** (attempt - 1)
        try:
            async with asyncio.timeout(policy.timeout_s):
                answer = await call()
        except TimeoutError:
            failure = Failure(f"no answer within {policy.timeout_s:g} s", True)
        except Malformed as exc:  # an answer without the content we asked for
            failure = Failure(f"malformed model answer: {exc}", False)
        except Exception as exc:
            found = classify(exc)
            if found is None:
                raise
            failure = found
            if not failure.retryable:
                raise AIError(failure.reason, retryable=False) from exc
        else:
            try:
                return parse(answer)
            except (Malformed, msgspec.ValidationError, msgspec.DecodeError) as exc:
                failure = Failure(f"malformed model answer: {exc}", False)
        log.warning(
            "ai.attempt_failed",
            vendor=policy.vendor,
            attempt=attempt,
            attempts=attempts,
            reason=failure.reason,
        )
        if attempt < attempts:
            await sleep(min(failure.delay_s or delay, policy.timeout_s))
    raise AIError(
        short_label(f"{policy.vendor} failed after {attempts} attempt(s): {failure.reason}", 500),
        retryable=failure.retryable,
    )


def status_failure(vendor: str, status: int, message: str, headers: Any) -> Failure:
    """A failure for an HTTP error answer: 429 and 5xx are retried, other 4xx are not."""
    reason = short_label(f"{vendor} answered {status}: {message}", 400)
    retryable = status == 429 or status >= 500
    return Failure(reason, retryable, retry_after(headers) if retryable else None)
