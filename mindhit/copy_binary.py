"""Values in PostgreSQL's binary COPY form, formatted by psycopg's C code: the primitives
the projector's staging COPY (:mod:`projector.copy_rows`) and the visits' row codec
(:mod:`mindhit.visit_rows`, written by the processors, read by the projector) share.

Why the core: rows formatted here by one service are sent as they are by another, so
both must format them the same way, and a service never imports another.

A column staged as ``uuid`` is a UUID's 16 bytes (sent as ``bytea``, by psycopg's C
dumper of ``bytes``), one staged as ``timestamptz`` a time in milliseconds since 1970 as
microseconds since 2000 (``int8``); every other value is sent as it is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from operator import mul, sub
from typing import Any, Final

import psycopg
from psycopg import adapt, pq
from psycopg._copy_base import format_row_binary  # the C formatter of Copy.write_row
from psycopg.abc import AdaptContext, Transformer

__all__ = [
    "EPOCH_2000_MS",
    "StagedColumn",
    "UuidBytes",
    "binary_transformer",
    "format_rows",
    "micros_since_2000",
    "staged_column_lists",
    "staged_columns",
    "uuid_bytes",
]

EPOCH_2000_MS: Final = 946_684_800_000
"""2000-01-01 UTC in Unix milliseconds: PostgreSQL's binary times count from it."""

StagedColumn = tuple[Callable[[Any], Any], str, bool]
"""How :func:`staged_columns` reads one column: (getter of the value, staged type, whether
the column is a key, its ids each distinct)."""


def uuid_bytes(text: str) -> bytes:
    """A canonical UUID's 16 bytes (how ``uuid`` columns are staged)."""
    return bytes.fromhex(text.replace("-", ""))


def micros_since_2000(unix_ms: Iterable[int]) -> Iterable[int]:
    """Unix milliseconds as microseconds since 2000 (how ``timestamptz`` is staged)."""
    return map(mul, map(sub, unix_ms, repeat(EPOCH_2000_MS)), repeat(1000))


class UuidBytes(dict[str, bytes]):
    """Canonical UUID text → its 16 bytes, each distinct text converted once (a batch's
    user and session ids recur)."""

    def __missing__(self, text: str) -> bytes:
        value = self[text] = uuid_bytes(text)
        return value


def staged_columns(
    ops: Sequence[Any], columns: Sequence[StagedColumn], memo: UuidBytes
) -> Iterable[tuple[Any, ...]]:
    """The staging rows of ``ops``, built column by column with C callables: ``uuid``
    columns as their 16 bytes (a key column's ids each converted, the others once per
    distinct id through ``memo``), ``timestamptz`` as microseconds since 2000, every
    other value as it is. Raises ``ValueError`` (when iterated) for an id that is no
    UUID's hex digits."""
    return zip(*_staged_values(ops, columns, memo), strict=True)


def staged_column_lists(
    ops: Sequence[Any], columns: Sequence[StagedColumn], memo: UuidBytes
) -> list[list[Any]]:
    """What :func:`staged_columns` gives, column by column (a writer checking a column's
    values at once); raises ``ValueError`` as it does, at once."""
    return [list(values) for values in _staged_values(ops, columns, memo)]


def _staged_values(
    ops: Sequence[Any], columns: Sequence[StagedColumn], memo: UuidBytes
) -> list[Iterable[Any]]:
    staged: list[Iterable[Any]] = []
    for get, kind, key in columns:
        values: Iterable[Any] = map(get, ops)
        if kind == "uuid" and key:
            values = map(bytes.fromhex, map(str.replace, values, repeat("-"), repeat("")))
        elif kind == "uuid":
            values = map(memo.__getitem__, values)
        elif kind == "timestamptz":
            values = micros_since_2000(values)
        staged.append(values)
    return staged


class _Context:
    """An adaptation context whose ``bytea`` binary dumper is psycopg's C dumper of
    ``bytes`` (the one ``bytea`` maps to by type is ``psycopg.Binary``'s, in Python)."""

    def __init__(self, context: AdaptContext | None) -> None:
        self.adapters = adapt.AdaptersMap(context.adapters if context else psycopg.adapters)
        c_bytes = psycopg.adapters.get_dumper(bytes, adapt.PyFormat.BINARY)
        self.adapters.register_dumper(bytes, c_bytes)
        self.connection = context.connection if context else None


def binary_transformer(context: AdaptContext | None, types: Sequence[str]) -> Transformer:
    """A transformer dumping values as the binary ``types`` (PostgreSQL names), as
    ``Copy.set_types`` sets one, ``bytes`` by psycopg's C dumper (:class:`_Context`)."""
    ctx = _Context(context)
    registry = ctx.adapters.types
    tx = adapt.Transformer(ctx)  # type: ignore[arg-type]
    tx.set_dumper_types([registry.get_oid(t) for t in types], pq.Format.BINARY)
    return tx


def format_rows(rows: Iterable[Sequence[Any]], tx: Transformer, out: bytearray) -> bytearray:
    """``out`` with the binary COPY rows of ``rows`` appended (no header or trailer), each
    by the C formatter of ``Copy.write_row`` with ``tx`` (:func:`binary_transformer`)."""
    deque(map(format_row_binary, rows, repeat(tx), repeat(out)), maxlen=0)
    return out
