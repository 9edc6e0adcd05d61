"""Password hashing (Argon2id) run off the event loop, shared by the dashboard and the CLI.

Why it exists: an Argon2id hash or verification takes tens of milliseconds of CPU and
64 MiB of memory by design. Run on the event loop, every sign-in stalls every other
request of the process; run unbounded in threads, a burst of sign-ins takes all memory.
So every call here goes to a worker thread, at most :data:`MAX_CONCURRENT_HASHES` at
a time per process (the rest wait their turn without blocking the loop).
"""

from __future__ import annotations

import asyncio
import secrets

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "MAX_CONCURRENT_HASHES",
    "MAX_PASSWORD_LENGTH",
    "MIN_PASSWORD_LENGTH",
    "PasswordCheck",
    "hash_password",
    "password_problem",
    "verify_password",
]

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
MAX_CONCURRENT_HASHES = 4
"""Argon2 computations running at once per process (each holds 64 MiB while it runs)."""

_hasher = PasswordHasher()
# A valid hash of a random password: verifying against it when there is no stored hash
# keeps the answer time the same for known and unknown accounts.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
_slots: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}


def _slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slot = _slots.get(loop)
    if slot is None:
        for old in [other for other in _slots if other.is_closed()]:
            del _slots[old]
        slot = _slots[loop] = asyncio.Semaphore(MAX_CONCURRENT_HASHES)
    return slot


def password_problem(password: str) -> str | None:
    """Why ``password`` is not acceptable as a new password, or ``None`` when it is."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return "That password is too long."
    return None


async def hash_password(password: str) -> str:
    """The Argon2id hash of ``password``, computed in a worker thread."""
    async with _slot():
        return await asyncio.to_thread(_hasher.hash, password)


class PasswordCheck(msgspec.Struct, frozen=True):
    """The outcome of :func:`verify_password`: whether it matched, and a fresher hash."""

    matched: bool
    new_hash: str | None = None


def _verify(stored: str | None, password: str) -> PasswordCheck:
    try:
        _hasher.verify(stored or _DUMMY_HASH, password[:MAX_PASSWORD_LENGTH])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return PasswordCheck(False)
    if not stored:
        return PasswordCheck(False)
    if _hasher.check_needs_rehash(stored):
        return PasswordCheck(True, _hasher.hash(password))
    return PasswordCheck(True)


async def verify_password(stored: str | None, password: str) -> PasswordCheck:
    """Check ``password`` against ``stored`` (``None``: no password, never matches).

    Runs in a worker thread and takes as long for a missing hash as for a real one.
    ``new_hash`` is set when the stored hash uses outdated parameters.
    """
    async with _slot():
        return await asyncio.to_thread(_verify, stored, password)
