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
:func:`staged_rows` column by column with C callables (:mod:`mindhit.copy_binary`,
which the visits' row codec shares): a UUID's 16 bytes (sent as
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

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from operator import attrgetter
from typing import Any, Final

from psycopg.abc import AdaptContext

from mindhit.copy_binary import UuidBytes, binary_transformer, format_rows, staged_columns
from projector.tables import ReadTable

__all__ = ["Rows", "binary_copy_data", "staged_rows"]

SIGNATURE: Final = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
"""Binary COPY header: signature, flags (none) and header extension length (0)."""
TRAILER: Final = b"\xff\xff"
ROWS_PER_CHUNK: Final = 4096
"""~0.8 MB of this bench's visits: written while the next chunk is built, so the backend
parses as the client encodes (as with ``write_row``'s 32 KB buffers)."""

Rows = Callable[[Sequence[Any]], Iterable[Sequence[Any]]]
"""Row operations → their values in COPY order, one sequence per operation."""


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
    memo = UuidBytes()
    keys = set(table.key)
    columns = [
        (get, c.staged, c.name in keys) for c, get in zip(table.columns, getters, strict=True)
    ]

    def rows(ops: Sequence[Any]) -> Iterable[Sequence[Any]]:
        kinds = set(map(type, ops))
        if tuple not in kinds:
            return staged_columns(ops, columns, memo)
        if len(kinds) == 1:
            return ops
        done = iter(staged_columns([op for op in ops if type(op) is not tuple], columns, memo))
        return [op if type(op) is tuple else next(done) for op in ops]

    return rows


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
