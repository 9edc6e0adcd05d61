"""NUL characters: text the contracts refuse, because no reader could store it.

PostgreSQL stores no NUL in ``text`` nor in ``jsonb``, so a string holding one that
reached the event log would fail every batch of the projector that carries it. The
gateway, the dashboard and the server-side session start refuse it with
:data:`NUL_REASON`; the projector replaces one already logged (``projector.nul_text``).
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["JSON_NUL_ESCAPE", "NUL_REASON", "nul_field"]

NUL_REASON: Final = "contains a NUL character (U+0000), which cannot be stored"
JSON_NUL_ESCAPE: Final = b"\\u0000"
"""How a NUL reaches a JSON body (a raw one is malformed JSON): a body without it holds
none, so only a body with it needs its strings searched."""


def nul_field(struct: Any) -> str | None:
    """The first field of the msgspec ``struct`` whose string holds a NUL, else None."""
    for name in struct.__struct_fields__:
        value = getattr(struct, name)
        if type(value) is str and "\x00" in value:
            return str(name)
    return None
