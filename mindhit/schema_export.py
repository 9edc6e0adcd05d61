"""JSON Schema of the client contract, from which the extension's TypeScript types are generated."""

from __future__ import annotations

from typing import Any

import msgspec

from schema.api import BatchResult, ErrorBody, EventBatch, Rejection, SessionCreated
from schema.events import SCHEMA_VERSION, ClientEvent
from schema.privacy import (
    BLOCKED_URL,
    NOT_A_PAGE_URL,
    PAGE_SCHEMES,
    SECRET_PARAM_PREFIXES,
    SECRET_PARAM_SUFFIXES,
    SECRET_PARAMS,
)

__all__ = ["export_json_schema"]


def export_json_schema() -> dict[str, Any]:
    """Return one JSON Schema document with every client-facing type under ``$defs``.

    ``x-url-privacy`` carries the URL rules of :mod:`schema.privacy` (page schemes,
    placeholders, secret parameter names), so the extension applies the same lists.
    """
    types: tuple[Any, ...] = (
        ClientEvent,
        EventBatch,
        BatchResult,
        Rejection,
        SessionCreated,
        ErrorBody,
    )
    schemas, components = msgspec.json.schema_components(types, ref_template="#/$defs/{name}")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://mindhit.local/schema/client-events.json",
        "title": "MindHit client contract",
        "x-schema-version": SCHEMA_VERSION,
        "oneOf": schemas[0]["anyOf"],
        "$defs": components,
        "x-url-privacy": {
            "page_schemes": list(PAGE_SCHEMES),
            "not_a_page_url": NOT_A_PAGE_URL,
            "blocked_url": BLOCKED_URL,
            "secret_params": sorted(SECRET_PARAMS),
            "secret_param_prefixes": list(SECRET_PARAM_PREFIXES),
            "secret_param_suffixes": list(SECRET_PARAM_SUFFIXES),
        },
    }
