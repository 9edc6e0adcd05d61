"""Turning an upload body into events: whole-batch fast path, per-event slow path.

A healthy extension sends valid batches, so the body is first decoded in one typed
pass (``msgspec`` decodes and validates a 200-event batch in a few hundred µs).
Only when that fails is the body decoded loosely, with each event kept as
``msgspec.Raw`` and validated on its own, so one bad event costs only itself: it
is reported as ``{index, field, reason}`` and the rest are appended.

Errors that concern the whole upload (malformed JSON, missing ``batch_id``, too
many events) raise :class:`BatchError`, which the gateway turns into 400/413.
"""

from __future__ import annotations

import re
from typing import Any, Final

import msgspec

from schema.api import MAX_BATCH_EVENTS, EventBatch, Rejection
from schema.events import ClientEvent, ClientId, PageContent, Uuid, text_matches
from schema.nul import JSON_NUL_ESCAPE, NUL_REASON, nul_field

__all__ = [
    "HASH_MISMATCH_REASON",
    "INCOGNITO_REASON",
    "TEXT_MISSING_REASON",
    "BatchError",
    "ParsedBatch",
    "RejectedEvent",
    "parse_batch",
    "split_validation_message",
]

INCOGNITO_REASON: Final = "incognito events are refused"
HASH_MISMATCH_REASON: Final = "content_hash is not the SHA-256 of the text sent with it"
TEXT_MISSING_REASON: Final = (
    "content_hash names a text that was not sent: send the text with its SHA-256"
)

_batch_decoder = msgspec.json.Decoder(EventBatch)
_loose_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_events_decoder = msgspec.json.Decoder(list[msgspec.Raw])
_event_decoder = msgspec.json.Decoder(ClientEvent)
_uuid_decoder = msgspec.json.Decoder(Uuid)
_encoder = msgspec.json.Encoder()
_client_id_decoder = msgspec.json.Decoder(ClientId)

_AT_PATH = re.compile(r"^(?P<reason>.*?) - at `(?P<path>[^`]*)`$", re.DOTALL)
_MISSING_FIELD = re.compile(r"missing required field `(?P<field>[^`]+)`")
_BYTE_POSITION = re.compile(r"\(byte (?P<pos>\d+)\)")


class BatchError(ValueError):
    """The upload as a whole cannot be accepted.

    Attributes:
        status_code: 400 (malformed or invalid envelope) or 413 (too many events).
        detail: a sentence for the client.
        field: the offending top-level field, when there is one.
        position: byte offset of a JSON syntax error, when there is one.
    """

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        field: str | None = None,
        position: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.field = field
        self.position = position


class RejectedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event refused individually: the rejection reported and the bytes as sent.

    ``raw`` is ``None`` for events whose content must not be kept (incognito).
    """

    rejection: Rejection
    raw: bytes | None


class ParsedBatch(msgspec.Struct, frozen=True, kw_only=True):
    """A decoded upload: its identity, the valid events and the refused ones."""

    batch_id: str
    client_id: str
    events: list[ClientEvent]
    rejected: list[RejectedEvent]
    total: int


def split_validation_message(message: str) -> tuple[str, str]:
    """Split a msgspec validation message into ``(field, reason)``.

    ``"Expected `int`, got `str` - at `$.seq`"`` gives ``("seq", "Expected `int`, got `str`")``;
    ``"Object missing required field `tab_id`"`` names ``tab_id``. A problem with the
    event as a whole (e.g. not an object) is reported on the field ``"$"``.
    """
    reason, path = message, "$"
    match = _AT_PATH.match(message)
    if match:
        reason, path = match.group("reason"), match.group("path")
    missing = _MISSING_FIELD.search(reason)
    if missing:
        path = f"{path}.{missing.group('field')}"
    field = path[2:] if path.startswith("$.") else path.removeprefix("$") or "$"
    return field, reason


def _refused(event: ClientEvent) -> tuple[str, str] | None:
    """``(field, reason)`` when a well-formed event is still refused, else ``None``."""
    if event.incognito:
        return "incognito", INCOGNITO_REASON
    if isinstance(event, PageContent) and not text_matches(event):
        return "content_hash", HASH_MISMATCH_REASON if event.text else TEXT_MISSING_REASON
    return None


def _with_nul(event: ClientEvent) -> tuple[str, str] | None:
    """``(field, reason)`` when a string of ``event`` holds a NUL character (:mod:`schema.nul`:
    one such title in the log would stop the projector on every batch carrying it)."""
    field = nul_field(event)
    return None if field is None else (field, NUL_REASON)


def _reject_refused(
    events: list[ClientEvent], offset_of: list[int], nul: bool = False
) -> tuple[list[ClientEvent], list[RejectedEvent]]:
    """Split off incognito events, page contents whose hash is not their text's and,
    when the body may hold one (``nul``), events with a NUL character in a string."""
    kept: list[ClientEvent] = []
    rejected: list[RejectedEvent] = []
    for position, event in enumerate(events):
        refused = _refused(event) or (_with_nul(event) if nul else None)
        if refused is None:
            kept.append(event)
            continue
        field, reason = refused
        rejection = Rejection(index=offset_of[position], field=field, reason=reason)
        # Incognito content is kept nowhere; a mismatched page content is kept as sent
        # (the quarantine keeps a capped excerpt of it).
        raw = None if field == "incognito" else _encoder.encode(event)
        rejected.append(RejectedEvent(rejection=rejection, raw=raw))
    return kept, rejected


def parse_batch(body: bytes) -> ParsedBatch:
    """Decode an upload body; raise :class:`BatchError` if it cannot be taken at all.

    Steps: decode the whole batch typed; on failure decode it loosely and validate
    the envelope fields, the event count and then each event on its own; finally
    refuse incognito events (their content is not kept anywhere), page contents
    whose ``content_hash`` is not the SHA-256 of the text sent with them, and events
    with a NUL character in a string.
    """
    try:
        batch = _batch_decoder.decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return _parse_slowly(body)
    nul = JSON_NUL_ESCAPE in body
    if nul or any(_refused(event) is not None for event in batch.events):
        kept, rejected = _reject_refused(batch.events, list(range(len(batch.events))), nul)
        return ParsedBatch(
            batch_id=batch.batch_id,
            client_id=batch.client_id,
            events=kept,
            rejected=rejected,
            total=len(batch.events),
        )
    return ParsedBatch(
        batch_id=batch.batch_id,
        client_id=batch.client_id,
        events=batch.events,
        rejected=[],
        total=len(batch.events),
    )


def _decode_field(fields: dict[str, msgspec.Raw], name: str, decoder: Any) -> Any:
    raw = fields.get(name)
    if raw is None:
        raise BatchError(400, f"missing required field `{name}`", field=name)
    try:
        return decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise BatchError(400, f"invalid `{name}`: {exc}", field=name) from exc


def _parse_slowly(body: bytes) -> ParsedBatch:
    try:
        fields = _loose_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise BatchError(400, f"the body must be a JSON object: {exc}", field="$") from exc
    except msgspec.DecodeError as exc:
        found = _BYTE_POSITION.search(str(exc))
        position = int(found.group("pos")) if found else len(body)
        raise BatchError(400, f"malformed JSON: {exc}", position=position) from exc
    batch_id = _decode_field(fields, "batch_id", _uuid_decoder)
    client_id = _decode_field(fields, "client_id", _client_id_decoder)
    raw_events: list[msgspec.Raw] = _decode_field(fields, "events", _events_decoder)
    if len(raw_events) > MAX_BATCH_EVENTS:
        raise BatchError(
            413,
            f"{len(raw_events)} events in one upload; at most {MAX_BATCH_EVENTS} are accepted",
            field="events",
        )
    valid: list[ClientEvent] = []
    index_of: list[int] = []
    rejected: list[RejectedEvent] = []
    for index, raw in enumerate(raw_events):
        try:
            valid.append(_event_decoder.decode(raw))
            index_of.append(index)
        except msgspec.ValidationError as exc:
            field, reason = split_validation_message(str(exc))
            rejection = Rejection(index=index, field=field, reason=reason)
            rejected.append(RejectedEvent(rejection=rejection, raw=bytes(raw)))
    kept, refused = _reject_refused(valid, index_of, JSON_NUL_ESCAPE in body)
    rejected.extend(refused)
    rejected.sort(key=lambda item: item.rejection.index)
    return ParsedBatch(
        batch_id=batch_id,
        client_id=client_id,
        events=kept,
        rejected=rejected,
        total=len(raw_events),
    )
