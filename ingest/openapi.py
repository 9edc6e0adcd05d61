"""The gateway's OpenAPI document: Litestar's, plus what Litestar cannot infer.

``POST /v1/events`` reads its body itself (per-event validation), so Litestar
sees no body type; its request body, its ``202`` answer and the schemas of every
client event type are added here from the msgspec contract, so the document
describes exactly what the gateway accepts.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from schema.api import BatchResult, ErrorBody, EventBatch

__all__ = ["complete_openapi", "openapi_config"]

_REF = "#/components/schemas/{name}"


def openapi_config() -> OpenAPIConfig:
    """The gateway's OpenAPI settings: title, version and the device-token scheme."""
    return OpenAPIConfig(
        title="MindHit ingest gateway",
        version="1",
        description="Device uploads of browsing events and server-side session control.",
        components=Components(
            security_schemes={
                "deviceToken": SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="A device token from `mindhit token create` (`mh_…`).",
                )
            }
        ),
        create_examples=False,
        use_handler_docstrings=False,
    )


def _media(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": _REF.format(name=name)}}}


def complete_openapi(app: Litestar) -> None:
    """Add the upload body, its answers and the event schemas to ``app``'s document."""
    document = app.openapi_schema
    _, components = msgspec.json.schema_components(
        [EventBatch, BatchResult, ErrorBody], ref_template=_REF
    )
    if document.components.schemas is None:
        document.components.schemas = {}
    for name, schema in components.items():
        document.components.schemas.setdefault(name, schema)
    operation = document.paths["/v1/events"].post if document.paths else None
    assert operation is not None, "the /v1/events route is missing"
    operation.request_body = {  # type: ignore[assignment]
        "required": True,
        "description": "One upload: `batch_id` (UUID, idempotency key), `client_id`, events.",
        "content": _media("EventBatch"),
    }
    responses = operation.responses or {}
    responses["202"] = {  # type: ignore[assignment]
        "description": "Valid events appended (or already appended: `duplicate`).",
        "content": _media("BatchResult"),
    }
    responses["503"] = {  # type: ignore[assignment]
        "description": "Redis or PostgreSQL unavailable; nothing was appended.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
        "content": _media("ErrorBody"),
    }
    operation.responses = responses
