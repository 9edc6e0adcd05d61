"""Identifier helpers shared by every component.

Event ids are UUIDv7 (RFC 9562) strings: time-ordered, so they index well, and
generated on the client. Python 3.11 has no ``uuid.uuid7``, hence this module.
Deterministic ids for derived rows (a visit, a URL) are UUIDv5-style hashes of the
inputs that identify them, so a redelivered input yields the same id.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from typing import Final

__all__ = ["UUID_TEXT", "deterministic_id", "uuid7", "uuid7_time_ms", "visit_id"]

UUID_TEXT: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
"""A UUID in the canonical 8-4-4-4-12 form, either case (PostgreSQL accepts it): how the
projector's folds and the visits' row codec check the ids another process sent."""

_NAMESPACE = uuid.UUID("6f1f8a52-8f4e-4d0c-9f7e-3c1f0b7d9a11")


def uuid7(ts_ms: int | None = None) -> str:
    """Return a new UUIDv7 string for the given Unix time in milliseconds (default: now)."""
    if ts_ms is None:
        ts_ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ts_ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a (12 bits)
    value |= 0b10 << 62  # variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # rand_b (62 bits)
    return str(uuid.UUID(int=value))


def uuid7_time_ms(value: str) -> int:
    """Return the Unix time in milliseconds embedded in a UUIDv7 string."""
    return uuid.UUID(value).int >> 80


_NAMESPACE_BYTES = _NAMESPACE.bytes
_sha1 = hashlib.sha1
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
"""Hex digit of byte 8's high nibble → that nibble with the RFC 4122 variant bits set."""


def deterministic_id(*parts: str | int) -> str:
    """Return a stable UUID (version 5 layout) naming the tuple ``parts``.

    The same string as ``str(uuid.UUID(bytes=sha1(...)[:16], version=5))``, built from
    the digest's hex directly (the fold names every visit with it: a hot path): the
    version nibble becomes ``5``, the variant nibble one of ``89ab``.
    """
    return _name_uuid("\x1f".join(map(str, parts)))


def visit_id(user_id: str, client_id: str, opened_seq: int) -> str:
    """``deterministic_id(user_id, client_id, opened_seq)``, the id of a visit.

    The same string, for the fold's hot path (one per closed visit): the three parts
    joined by one f-string instead of ``map(str, parts)`` over a tuple (~1.2 µs a call
    instead of ~1.8 µs).
    """
    return _name_uuid(f"{user_id}\x1f{client_id}\x1f{opened_seq}")


def _name_uuid(name: str) -> str:
    """The UUIDv5 of ``name`` in MindHit's namespace, as text (what both ids above are)."""
    h = _sha1(_NAMESPACE_BYTES + name.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"
