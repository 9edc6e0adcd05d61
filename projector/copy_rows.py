"""The binary COPY data of a batch's row operations, built without Python code per row.

psycopg's ``Copy.write_row`` runs two Python methods per row around its C row formatter
and hands the backend 32 KB at a time. Here the rows go through the same C formatter
(``format_row_binary``, the one ``write_row`` calls, with a transformer set to the same
binary types as ``Copy.set_types``) driven by ``map`` and drained by a zero-length
``deque``, so the loop runs in C, and the data is written in chunks of 4,096 rows
(psycopg sends each in 128 KB pieces). Staging 51,200 visits cost this process 0.044-0.074 s
of CPU against 0.077-0.104 s (five runs each, load average ~2.4), the backend the same.
``tests/unit/projector/test_copy_rows.py`` checks the data equals ``write_row``'s byte for
byte (a psycopg upgrade that changed the formatter would fail it).

A column staged as ``uuid`` or ``timestamptz`` (the visits' ids and times,
:data:`projector.tables.PAGE_VISITS`) is sent in that type's binary form, built by
:func:`staged_rows` column by column with C callables: a UUID's 16 bytes (sent as
``bytea``, by psycopg's C dumper of ``bytes``), a time in milliseconds since 1970 as
microseconds since 2000 (``int8``). PostgreSQL then casts nothing: the insert from the
staging table copies each row as it is, and the change rows read typed values. Per
100,000 bench visits the fold's backend spent ~0.21 s less and this process ~0.1 s more
(issue 14, bench/HISTORY.md 2026-12-07). The ids are canonical UUIDs (the fold checks
them: :func:`projector.folds.is_uuid`), so every one converts; the times convert exactly
(integers: the SQL cast's ``* interval '1 ms'`` multiplies in floating point and stored
times after 2255-06-05 up to 16 µs off, e.g. 9999-12-31 23:59:59.999008).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from itertools import repeat
from operator import attrgetter, mul, sub
from typing import Any, Final

import psycopg
from psycopg import adapt, pq
from psycopg._copy_base import format_row_binary  # the C formatter of Copy.write_row
from psycopg.abc import AdaptContext, Transformer

from projector.tables import ReadTable

__all__ = [
    "Rows",
    "binary_copy_data",
    "binary_transformer",
    "format_rows",
    "micros_since_2000",
    "staged_rows",
    "uuid_bytes",
]

SIGNATURE: Final = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
"""Binary COPY header: signature, flags (none) and header extension length (0)."""
TRAILER: Final = b"\xff\xff"
ROWS_PER_CHUNK: Final = 4096
"""~0.8 MB of this bench's visits: written while the next chunk is built, so the backend
parses as the client encodes (as with ``write_row``'s 32 KB buffers)."""
EPOCH_2000_MS: Final = 946_684_800_000
"""2000-01-01 UTC in Unix milliseconds: PostgreSQL's binary times count from it."""

Rows = Callable[[Sequence[Any]], Iterable[Sequence[Any]]]
"""Row operations → their values in COPY order, one sequence per operation."""


def uuid_bytes(text: str) -> bytes:
    """A canonical UUID's 16 bytes (how ``uuid`` columns are staged)."""
    return bytes.fromhex(text.replace("-", ""))


def micros_since_2000(unix_ms: Iterable[int]) -> Iterable[int]:
    """Unix milliseconds as microseconds since 2000 (how ``timestamptz`` is staged)."""
    return map(mul, map(sub, unix_ms, repeat(EPOCH_2000_MS)), repeat(1000))


class _UuidBytes(dict[str, bytes]):
    """Canonical UUID text → its 16 bytes, each distinct text converted once (a batch's
    user and session ids recur)."""

    def __missing__(self, text: str) -> bytes:
        value = self[text] = uuid_bytes(text)
        return value


def staged_rows(table: ReadTable) -> Rows:
    """How ``table``'s row operations become COPY rows of :attr:`ReadTable.copy_types`.

    Columns staged as ``uuid`` are sent as their 16 bytes (a key column's ids are each
    converted, the others once per distinct id), ``timestamptz`` as microseconds since
    2000 from the operation's Unix milliseconds; every other value as it is. An operation
    that is a ``tuple`` is its row already (a visit folded from columns:
    :mod:`projector.visit_columns`), sent as it is.
    """
    getters = [attrgetter(c.attr or c.name) for c in table.columns]
    if all(c.staged not in ("uuid", "timestamptz") for c in table.columns):
        return partial(map, attrgetter(*table.copy_attrs))
    memo = _UuidBytes()
    keys = set(table.key)

    def rows(ops: Sequence[Any]) -> Iterable[Sequence[Any]]:
        kinds = set(map(type, ops))
        if tuple not in kinds:
            return converted(ops)
        if len(kinds) == 1:
            return ops
        done = iter(converted([op for op in ops if type(op) is not tuple]))
        return [op if type(op) is tuple else next(done) for op in ops]

    def converted(ops: Sequence[Any]) -> Iterable[Sequence[Any]]:
        columns: list[Iterable[Any]] = []
        for column, get in zip(table.columns, getters, strict=True):
            values: Iterable[Any] = map(get, ops)
            if column.staged == "uuid" and column.name in keys:
                values = map(bytes.fromhex, map(str.replace, values, repeat("-"), repeat("")))
            elif column.staged == "uuid":
                values = map(memo.__getitem__, values)
            elif column.staged == "timestamptz":
                values = micros_since_2000(values)
            columns.append(values)
        return zip(*columns, strict=True)

    return rows


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


def binary_copy_data(
    context: AdaptContext | None,
    types: Sequence[str],
    rows: Rows,
    ops: Sequence[Any],
    rows_per_chunk: int = ROWS_PER_CHUNK,
) -> Iterator[bytearray]:
    """The binary COPY data (header, rows, trailer) of ``rows(ops)``, in chunks of
    ``rows_per_chunk`` rows (the backend parses one while the next is built).

    Args:
        context: the connection whose adapters dump the values (None: psycopg's global
            adapters).
        types: the COPY columns' types (PostgreSQL names), as ``Copy.set_types`` takes.
        rows: the operations' values in COPY order (:func:`staged_rows`, or e.g.
            ``partial(map, attrgetter(...))`` of two or more names).
        ops: the row operations.
        rows_per_chunk: rows per chunk yielded.
    """
    tx = binary_transformer(context, types)
    out = bytearray(SIGNATURE)
    for start in range(0, len(ops), rows_per_chunk):
        format_rows(rows(ops[start : start + rows_per_chunk]), tx, out)
        if start + rows_per_chunk < len(ops):
            yield out
            out = bytearray()
    out += TRAILER
    yield out
