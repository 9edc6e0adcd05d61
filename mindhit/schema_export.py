"""JSON Schema of the client contract, from which the extension's TypeScript types are generated."""

from __future__ import annotations

from typing import Any

import msgspec

from schema.api import BatchResult, ErrorBody, EventBatch, Rejection, SessionCreated
from schema.events import SCHEMA_VERSION, ClientEvent

__all__ = ["export_json_schema"]


def export_json_schema() -> dict[str, Any]:
    """Return one JSON Schema document with every client-facing type under ``$defs``."""
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
    }
