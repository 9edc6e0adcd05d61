"""NUL characters in a batch's text, replaced so PostgreSQL takes the batch (pure).

PostgreSQL stores no NUL in ``text`` (``invalid byte sequence for encoding "UTF8":
0x00``) nor in ``jsonb`` (``\\u0000 cannot be converted to text``). The gateway refuses
events that hold one (:mod:`schema.nul`), but a log written before
it did, or text a model generated (a summary, a mind map), may still carry one; a batch
that PostgreSQL refuses would stop the projector on it at every restart, for every user
of its partitions. So when it refuses a batch for such a character
(:func:`projector.pg.apply_batch`), every NUL of the batch's row operations becomes
U+FFFD (what HTML parsers make of one) and the batch is applied again. Only that rare
path pays for the search.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Final

import msgspec

from projector.rows import MindmapRow
from projector.visit_rows_fold import explode_rows
from schema.nul import JSON_NUL_ESCAPE

__all__ = ["REPLACEMENT", "scrub_nul"]

REPLACEMENT: Final = "\ufffd"


def scrub_nul(batch: Any, attributes: Iterable[str]) -> bool:
    """Replace every NUL in the text of ``batch``'s row operations (its ``attributes``,
    each a dict of them) by U+FFFD, in place: strings (also in lists and in a visit's
    staging row; never the row's raw UUID bytes) and a mind map's JSON (its ``\\u0000``
    escapes). Entries of COPY rows are decoded first
    (:func:`projector.visit_rows_fold.explode_rows`). Whether anything changed."""
    explode_rows(batch)
    changed = False
    for name in attributes:
        ops: dict[Any, Any] = getattr(batch, name)
        for key, op in ops.items():
            clean = _scrubbed(op)
            if clean is not op:
                ops[key] = clean
                changed = True
    return changed


def _text(value: str) -> str:
    return value.replace("\x00", REPLACEMENT) if "\x00" in value else value


_NUL_ESCAPE: Final = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")
"""A JSON ``\\u0000`` escape: its backslash after an even number of others (an odd one
would make it a literal backslash followed by the text ``u0000``)."""


def _json(value: bytes) -> bytes:
    return _NUL_ESCAPE.sub(rb"\1\\ufffd", value) if JSON_NUL_ESCAPE in value else value


def _value(value: Any) -> Any:
    """``value`` without NUL if it is text or a list of text; else ``value`` itself."""
    if type(value) is str:
        return _text(value)
    if type(value) is list and any(type(v) is str and "\x00" in v for v in value):
        return [_text(v) if type(v) is str else v for v in value]
    return value


_FIELD_CLEANERS: Final[dict[type, dict[str, Callable[[Any], Any]]]] = {
    MindmapRow: {"graph": _json},
}
"""Fields whose bytes hold text in another form (a mind map's JSON)."""


def _scrubbed(op: Any) -> Any:
    """``op`` itself when it holds no NUL, else a copy without."""
    if type(op) is tuple:  # a visit's staging row: its bytes are UUIDs, left as they are
        clean = tuple(map(_value, op))
        return op if all(a is b for a, b in zip(clean, op, strict=True)) else clean
    if not isinstance(op, msgspec.Struct):
        return op
    special = _FIELD_CLEANERS.get(type(op), {})
    changes = {}
    for field in op.__struct_fields__:
        value = getattr(op, field)
        clean = special.get(field, _value)(value)
        if clean is not value:
            changes[field] = clean
    return msgspec.structs.replace(op, **changes) if changes else op
