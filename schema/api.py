"""HTTP shapes of the public API (gateway and dashboard JSON API).

These Structs are what the OpenAPI document describes; the extension's
TypeScript types are generated from the JSON Schema of this module and
:mod:`schema.events`.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from schema.events import ClientEvent, ClientId, Uuid

__all__ = [
    "MAX_BATCH_EVENTS",
    "BatchResult",
    "ErrorBody",
    "EventBatch",
    "Rejection",
    "SessionCreated",
]

MAX_BATCH_EVENTS = 500


class EventBatch(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /v1/events`` body: one upload from one extension install."""

    batch_id: Uuid
    client_id: ClientId
    events: Annotated[list[ClientEvent], msgspec.Meta(max_length=MAX_BATCH_EVENTS)]


class Rejection(msgspec.Struct, frozen=True, kw_only=True):
    """One event the gateway refused: where it was, which field, and why."""

    index: int
    field: str
    reason: str


class BatchResult(msgspec.Struct, frozen=True, kw_only=True):
    """``202`` answer to ``POST /v1/events``.

    ``accepted`` events were appended to the log (or had been, for a ``duplicate``
    retry); ``blocked`` were dropped unstored: for the block list, or recorded before
    the account's data was erased (up to the erasure's cut); ``rejected`` lists the
    invalid ones, which are kept in the quarantine stream with their reason.
    ``stopped`` lists the upload's sessions the server had stopped (from the dashboard,
    or after ``MINDHIT_SESSION_IDLE_CLOSE_S`` without an event): the client should end
    them, since what it records in them after the stop is not counted. A stop from the
    dashboard or the idle close may be listed only up to a minute later (the gateway's
    session cache); one through this gateway's API, at the next upload.
    """

    batch_id: str
    accepted: int
    blocked: int = 0
    duplicate: bool = False
    rejected: list[Rejection] = []
    stopped: list[str] = []


class SessionCreated(msgspec.Struct, frozen=True, kw_only=True):
    """Answer to ``POST /v1/sessions``."""

    session_id: str
    started_at: int


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """Every error answer: the HTTP status, a sentence, and where it applies."""

    status_code: int
    detail: str
    field: str | None = None
    position: int | None = None
