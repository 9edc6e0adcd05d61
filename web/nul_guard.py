"""Refusing NUL characters in dashboard requests, before any handler sees them.

PostgreSQL stores no NUL in text: a search, a session name, a device name or an email
address holding one made the query fail (a 500), or went into the event log (a session
label) where every reader would meet it again. Every page and API request is checked
once here (:func:`refuse_nul`, the app's ``before_request``): the query string, the path,
and a JSON or form body; one holding a NUL is answered 400 naming the field. Only a
body that can hold one (a ``\\u0000`` escape in JSON, ``%00`` in a form) is decoded here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

from schema.nul import JSON_NUL_ESCAPE, NUL_REASON

__all__ = ["refuse_nul"]

_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def refuse_nul(request: Request[Any, Any, Any]) -> None:
    """Raise a 400 (``ValidationException`` naming the field) for a NUL in ``request``."""
    field = "path" if "\x00" in request.url.path else None
    field = field or _nul_in_pairs(request.query_params.multi_items())
    if field is None and request.method in _BODY_METHODS:
        field = await _nul_in_body(request)
    if field is not None:
        raise ValidationException(
            detail=f"{field}: {NUL_REASON}", extra=[{"key": field, "message": NUL_REASON}]
        )


async def _nul_in_body(request: Request[Any, Any, Any]) -> str | None:
    """The field of a JSON or form body holding a NUL (``body``: the JSON itself)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        body = await request.body()
        if JSON_NUL_ESCAPE not in body:
            return None
        try:
            data = msgspec.json.decode(body)
        except msgspec.DecodeError:
            return None  # malformed JSON: the handler's decoding says so
        found = _nul_in_json(data, "")
        return None if found is None else found or "body"
    if kind == "application/x-www-form-urlencoded" and b"%00" in await request.body():
        return _nul_in_pairs((await request.form()).multi_items())
    return None


def _nul_in_pairs(pairs: Iterable[tuple[str, Any]]) -> str | None:
    for key, value in pairs:
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            return key.replace("\x00", "\ufffd")
    return None


def _nul_in_json(value: Any, path: str) -> str | None:
    """The dotted path of the first string (or key) of ``value`` holding a NUL, else None."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return name.replace("\x00", "\ufffd")
            found = _nul_in_json(item, name)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_in_json(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None
