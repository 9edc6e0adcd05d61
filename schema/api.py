"""HTTP shapes of the public API (gateway and dashboard JSON API).

These Structs are what the OpenAPI document describes; the extension's
TypeScript types are generated from the JSON Schema of this module and
:mod:`schema.events`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from schema.events import ClientEvent, ClientId, Uuid

__all__ = [
    "MAX_BATCH_EVENTS",
    "BatchResult",
    "ErrorBody",
    "EventBatch",
    "Rejection",
    "SessionCreated",
    "SessionStop",
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


class SessionStop(msgspec.Struct, frozen=True, kw_only=True):
    """A session of the upload the server stopped: how, and as of when.

    ``reason`` ``user``: stopped from the dashboard or the API (what the client records
    in it afterwards is not counted: the user asked for the stop). ``idle``: closed after
    ``MINDHIT_SESSION_IDLE_CLOSE_S`` without an event reaching the server, dated at its
    last event (``stopped_at``): events recorded after ``stopped_at`` (offline, say) are
    not counted in it either, and a client should record them again in a new session.
    ``stopped_at`` is 0 when unknown (a note that could not be read).
    """

    session_id: str
    reason: Literal["user", "idle"]
    stopped_at: int


class BatchResult(msgspec.Struct, frozen=True, kw_only=True):
    """``202`` answer to ``POST /v1/events``.

    ``accepted`` events were appended to the log (or had been, for a ``duplicate``
    retry); ``blocked`` were dropped unstored: for the block list, or recorded before
    the account's data was erased (up to the erasure's cut); ``rejected`` lists the
    invalid ones, which are kept in the quarantine stream with their reason.
    ``stopped`` lists the upload's sessions the server had stopped (from the dashboard,
    or after ``MINDHIT_SESSION_IDLE_CLOSE_S`` without an event): the client should end
    them, since what it records in them after the stop is not counted. A stop is listed
    from the next upload on (up to a minute later while a gateway cannot hear of stops
    made elsewhere: its Redis subscription down). ``stops`` says the same with each
    stop's reason and time (``stopped`` stays for earlier clients).
    """

    batch_id: str
    accepted: int
    blocked: int = 0
    duplicate: bool = False
    rejected: list[Rejection] = []
    stopped: list[str] = []
    stops: list[SessionStop] = []


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
