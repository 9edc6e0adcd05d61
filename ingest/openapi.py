"""The gateway's OpenAPI document: Litestar's, plus what Litestar cannot infer.

``POST /v1/events`` is a raw ASGI endpoint (the hot path reads its body itself,
for per-event validation and speed), so Litestar cannot describe it: its whole
operation and the schemas of every client event type are written here from the
msgspec contract, so the document describes exactly what the gateway accepts.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, Operation, PathItem, SecurityScheme

from ingest.upload import EVENTS_PATH
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


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": _media("ErrorBody")}
    if headers:
        answer["headers"] = headers
    return answer


def events_operation() -> Operation:
    """The OpenAPI operation of ``POST /v1/events`` (a raw ASGI endpoint Litestar cannot see)."""
    return Operation(
        tags=["ingest"],
        summary="Upload a batch of browsing events",
        description=(
            "Appends the valid events of one upload to the raw event log, atomically and"
            " idempotently per `batch_id` (a retry is answered with `duplicate: true`)."
            " Invalid events are rejected one by one (`rejected[]`, kept in the quarantine"
            " stream), incognito events are refused, and so is a `page.content` whose"
            " `content_hash` is not the SHA-256 of the text sent with it (`field:"
            " content_hash`), and an event with a NUL character (U+0000) in a string (the"
            " field named); events on blocked domains are dropped, and so are, in an"
            " account whose data was erased, events recorded up to the erasure (both"
            " counted in `blocked`)."
            " At most 500 events and `MINDHIT_MAX_BODY_BYTES` per upload (413 beyond)."
        ),
        operation_id="V1EventsPostEvents",
        security=[{"deviceToken": []}],
        request_body={  # type: ignore[arg-type]
            "required": True,
            "description": "One upload: `batch_id` (UUID, idempotency key), `client_id`, events.",
            "content": _media("EventBatch"),
        },
        responses={
            "202": {  # type: ignore[dict-item]
                "description": "Valid events appended (or already appended: `duplicate`).",
                "content": _media("BatchResult"),
            },
            "400": _error("Malformed JSON (with `position`) or an invalid envelope field."),  # type: ignore[dict-item]
            "401": _error(  # type: ignore[dict-item]
                "Missing or unknown device token.",
                {"WWW-Authenticate": {"schema": {"type": "string"}}},
            ),
            "403": _error("The device token was revoked."),  # type: ignore[dict-item]
            "413": _error("Body larger than the limit or more than 500 events."),  # type: ignore[dict-item]
            "429": _error(  # type: ignore[dict-item]
                "The user's request or byte quota is used up (`field`: `quota.requests` or"
                " `quota.bytes`); nothing was appended.",
                {"Retry-After": {"schema": {"type": "integer"}}},
            ),
            "503": _error(  # type: ignore[dict-item]
                "Redis or PostgreSQL unavailable, or (production) Redis would not keep what it"
                " acknowledges; nothing was appended.",
                {"Retry-After": {"schema": {"type": "integer"}}},
            ),
        },
    )


def complete_openapi(app: Litestar) -> None:
    """Add ``POST /v1/events`` and the schemas of the upload contract to ``app``'s document."""
    document = app.openapi_schema
    _, components = msgspec.json.schema_components(
        [EventBatch, BatchResult, ErrorBody], ref_template=_REF
    )
    if document.components.schemas is None:
        document.components.schemas = {}
    for name, schema in components.items():
        document.components.schemas.setdefault(name, schema)
    if document.paths is None:
        document.paths = {}
    document.paths[EVENTS_PATH] = PathItem(post=events_operation())
