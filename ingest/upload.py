"""``POST /v1/events``: the hot path, as a raw ASGI endpoint.

At thousands of small uploads a second the framework's per-request machinery
(signature model, request object, response object) cost ~50 µs of the ~200 µs a
request takes, so this endpoint reads the ASGI messages itself: it enforces the
body limit, authenticates, validates (whole batch, else event by event) and
answers with pre-encoded JSON. Errors are raised as :class:`ApiError` and turned
into ``ErrorBody`` answers by the app's exception handlers like everywhere else.
Its OpenAPI operation is written by :mod:`ingest.openapi`.
"""

from __future__ import annotations

import time

import msgspec
from litestar import asgi
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from ingest.auth import authenticate
from ingest.blocklist import partition_blocked
from ingest.coalescer import AppendResult
from ingest.durability import require_durable
from ingest.errors import ApiError
from ingest.known_text import drop_known_texts, texts_may_be_left_out
from ingest.quarantine import quarantine_entries, write_quarantine
from ingest.session_claims import legacy_owners, refuse_foreign_sessions
from ingest.state import GatewayState, blocked_domains
from ingest.url_privacy import scrub_events
from ingest.validation import BatchError, ParsedBatch, parse_batch
from mindhit.accounts import TokenInfo
from mindhit.redis_cluster import CALL_TIMEOUT_S, within
from mindhit.session_owners import settled_ttl_s
from mindhit.upload_log import AppendPolicy, UploadId, remember_batch
from schema.api import BatchResult
from schema.events import ClientEvent
from schema.log import Upload
from schema.topics import partition_for

__all__ = ["EVENTS_PATH", "post_events"]

EVENTS_PATH = "/v1/events"

_encoder = msgspec.json.Encoder()
_JSON_HEADERS = [(b"content-type", b"application/json")]


def _headers(scope: Scope) -> tuple[str | None, int | None]:
    authorization: str | None = None
    length: int | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                raise ApiError(400, "invalid Content-Length") from None
    return authorization, length


async def _read_body(receive: Receive, declared: int | None, limit: int) -> bytes:
    """The request body; 413 as soon as it is known to exceed ``limit``."""
    if declared is not None and declared > limit:
        raise ApiError(413, f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ApiError(400, "the client disconnected before sending the body")
        chunk: bytes = message.get("body", b"")  # type: ignore[assignment]
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"the body is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _charge_and_ingest(gateway: GatewayState, info: TokenInfo, body: bytes) -> BatchResult:
    """Charge the user's quota, then ingest the upload.

    Bounded as one call by the caller (:func:`mindhit.redis_cluster.within`): a Redis
    Cluster node that stops answering fails each call to it at the client's bound, and
    an upload's steps that meet it one after another (a single command failing at the
    socket timeout after another's pipeline failed at the bound) answered 503 only after
    15-20 s. Given up at the bound, an upload is answered 503 (``redis.TimeoutError``);
    what it had sent may still be written, and the client's retry is deduplicated by its
    ``batch_id``.
    """
    await gateway.quota.charge(info.user_id, len(body), gateway.now_ms())
    return await _ingest(gateway, info, body)


@asgi(EVENTS_PATH, copy_scope=False)
async def post_events(scope: Scope, receive: Receive, send: Send) -> None:
    """Take one upload: authenticate, read, charge the user's quota, validate, filter,
    append, answer 202."""
    if scope.get("method") != "POST":
        raise ApiError(405, "use POST", headers={"Allow": "POST"})
    gateway = scope["litestar_app"].state.gateway
    assert isinstance(gateway, GatewayState)
    started = time.perf_counter()
    user_id: str | None = None
    try:
        authorization, declared = _headers(scope)
        info = await authenticate(authorization, gateway)
        user_id = info.user_id
        await require_durable(gateway.durability)  # before a byte is charged
        body = await _read_body(receive, declared, gateway.settings.max_body_bytes)
        result = await within(
            getattr(gateway.redis, "call_timeout_s", CALL_TIMEOUT_S),
            _charge_and_ingest(gateway, info, body),
            "the upload",
        )
    except ApiError as exc:
        gateway.metrics.batches.labels(outcome=f"http_{exc.status_code}").inc()
        gateway.access_log.info(
            "upload", user_id=user_id, status=exc.status_code, outcome=exc.detail
        )
        raise
    outcome = "duplicate" if result.duplicate else "appended"
    gateway.metrics.batches.labels(outcome=outcome).inc()
    gateway.metrics.upload_seconds.observe(time.perf_counter() - started)
    gateway.access_log.info(
        "upload",
        user_id=user_id,
        batch_id=result.batch_id,
        events=result.accepted + result.blocked + len(result.rejected),
        accepted=result.accepted,
        rejected=len(result.rejected),
        blocked=result.blocked,
        outcome=outcome,
        status=202,
    )
    payload = _encoder.encode(result)
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 202,
        "headers": [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())],
    }
    body_event: HTTPResponseBodyEvent = {
        "type": "http.response.body",
        "body": payload,
        "more_body": False,
    }
    await send(start)
    await send(body_event)


async def _quarantine(
    gateway: GatewayState, user_id: str, parsed: ParsedBatch, received_at: int
) -> None:
    """Keep the upload's rejected events in quarantine (best effort, counted if refused)."""
    settings = gateway.settings
    written = await write_quarantine(
        gateway.redis,
        prefix=settings.key_prefix,
        entries=quarantine_entries(settings.quarantine_max_bytes, settings.quarantine_maxlen),
        batch_id=parsed.batch_id,
        user_id=user_id,
        client_id=parsed.client_id,
        received_at=received_at,
        rejected=parsed.rejected,
    )
    if not written:
        gateway.metrics.quarantine_unwritten.inc(len(parsed.rejected))


def drop_erased(events: list[ClientEvent], erased_at: int | None) -> tuple[list[ClientEvent], int]:
    """The events recorded after the account's latest erasure, and how many were not.

    An extension that queued events before the user erased their data, and uploads them
    once paired again, must not bring them back: those recorded up to the erasure's cut
    (event time against the cut, server time: a clock behind the server's loses what it
    recorded that much after the erasure) are dropped unstored, like blocked ones.
    """
    if erased_at is None:
        return events, 0
    kept = [event for event in events if event.ts > erased_at]
    return kept, len(events) - len(kept)


async def _without_known_texts(
    gateway: GatewayState, info: TokenInfo, events: list[ClientEvent], now_ms: int
) -> list[ClientEvent]:
    """``events`` with the texts the uploader already holds left out (:mod:`ingest.known_text`),
    except within a day of the account's erasure (:func:`texts_may_be_left_out`)."""
    if not events or not texts_may_be_left_out(info.erased_at, now_ms):
        return events
    settings = gateway.settings
    kept, stripped = await drop_known_texts(
        gateway.redis,
        settings.key_prefix,
        events,
        settings.content_ttl_days * 86_400,
        user_id=info.user_id,
    )
    if stripped:
        gateway.metrics.known_texts.inc(stripped)
    return kept


async def _ingest(gateway: GatewayState, info: TokenInfo, body: bytes) -> BatchResult:
    """Validate, filter, append and answer one upload.

    Steps: decode (whole batch, else event by event); refuse the events of sessions
    another user owns (:mod:`ingest.session_claims`); drop the events recorded before
    the account's data was erased (:func:`drop_erased`) and blocked events; apply the
    URL rules (:mod:`ingest.url_privacy`); hand the rest to the partition's coalescer
    and wait until its entry is written (or found to be a duplicate) — or, with
    nothing left to append, just remember the batch id in the client's idempotency
    state; then keep the rejected events
    in quarantine (not again for a duplicate; best effort: a quarantine Redis refuses
    never fails the upload); count everything.
    """
    try:
        parsed = parse_batch(body)
    except BatchError as exc:
        raise ApiError(exc.status_code, exc.detail, field=exc.field, position=exc.position) from exc
    settings = gateway.settings
    parsed, stops = await refuse_foreign_sessions(
        gateway.redis,
        settings.key_prefix,
        info.user_id,
        parsed,
        legacy_owners(gateway.pool),
        settled_ttl_s(settings),
        gateway.own_sessions,
    )
    blocked = blocked_domains(settings.blocked_domains, info.blocked_domains)
    kept, erased = drop_erased(parsed.events, info.erased_at)
    kept, blocked_count = partition_blocked(kept, blocked)
    blocked_count += erased
    kept, not_pages = scrub_events(kept)  # the extension's URL rules, once more
    blocked_count += not_pages
    received_at = gateway.now_ms()
    append = AppendResult(duplicate=False)
    kept = await _without_known_texts(gateway, info, kept, received_at)
    if kept:
        upload = Upload(
            batch_id=parsed.batch_id,
            user_id=info.user_id,
            client_id=parsed.client_id,
            received_at=received_at,
            events=kept,
        )
        append = await gateway.coalescer.submit(
            partition_for(info.user_id, settings.partitions),
            upload,
            weight=len(kept) + len(body) // 1024,
        )
    elif parsed.rejected:
        # Nothing to append: remember the batch anyway, so a retry does not
        # quarantine its events a second time.
        fresh = await remember_batch(
            gateway.redis,
            settings.key_prefix,
            partition_for(info.user_id, settings.partitions),
            UploadId(info.user_id, parsed.client_id, parsed.batch_id),
            AppendPolicy.of(settings),
        )
        append = AppendResult(duplicate=not fresh)
    if parsed.rejected and not append.duplicate:
        await _quarantine(gateway, info.user_id, parsed, received_at)
    counts = gateway.metrics.event_outcomes
    counts["duplicate" if append.duplicate else "accepted"].inc(len(kept))
    if parsed.rejected:
        counts["rejected"].inc(len(parsed.rejected))
    if blocked_count:
        counts["blocked"].inc(blocked_count)
    return BatchResult(
        batch_id=parsed.batch_id,
        accepted=len(kept),
        blocked=blocked_count,
        duplicate=append.duplicate,
        rejected=[item.rejection for item in parsed.rejected],
        stopped=[stop.session_id for stop in stops],
        stops=stops,
    )
