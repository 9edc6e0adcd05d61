"""The gateway's HTTP endpoints: uploads, sessions, health, readiness and metrics.

``POST /v1/events`` reads the raw body itself (rather than letting Litestar
validate it as a whole) so that one invalid event is rejected alone; its
OpenAPI request body is filled in by :mod:`ingest.openapi`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ingest.blocklist import partition_blocked
from ingest.coalescer import AppendResult
from ingest.errors import ApiError
from ingest.quarantine import write_quarantine
from ingest.state import GatewayState, blocked_domains
from ingest.tokens import bearer_token
from ingest.validation import BatchError, parse_batch
from mindhit.accounts import TokenInfo
from mindhit.logs import get_logger
from mindhit.session_log import MAX_LABEL_LENGTH, SessionNotFoundError, start_session, stop_session
from schema.api import BatchResult, ErrorBody, SessionCreated
from schema.events import UUID_PATTERN, SessionStarted
from schema.log import Upload
from schema.topics import partition_for

__all__ = ["SECURITY", "SessionStart", "SessionStopAccepted", "route_handlers"]

SECURITY: list[dict[str, list[str]]] = [{"deviceToken": []}]

log = get_logger("ingest")
_batch_result = msgspec.json.Encoder()
_uuid = msgspec.json.Decoder(Annotated[str, msgspec.Meta(pattern=UUID_PATTERN)])


class SessionStart(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /v1/sessions`` body (optional): a label for the new session."""

    label: Annotated[str, msgspec.Meta(max_length=MAX_LABEL_LENGTH)] = ""


class SessionStopAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """``202`` answer to ``POST /v1/sessions/{id}/stop``."""

    session_id: str
    stopped_at: int


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """Answer of ``/healthz`` and ``/readyz``: overall status and per-dependency checks."""

    status: str
    redis: str = ""
    postgres: str = ""


def _error(status: int, description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)


_AUTH_ERRORS = {
    401: _error(401, "Missing or unknown device token."),
    403: _error(403, "The device token was revoked."),
    503: _error(503, "Redis or PostgreSQL unavailable; retry after `Retry-After` seconds."),
}


def _state(state: State) -> GatewayState:
    gateway = state.gateway
    assert isinstance(gateway, GatewayState)
    return gateway


async def _authenticate(request: Request[Any, Any, Any], gateway: GatewayState) -> TokenInfo:
    secret = bearer_token(request.headers.get("authorization"))
    if secret is None:
        raise ApiError(
            401,
            "missing device token (Authorization: Bearer <token>)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    info = await gateway.tokens.resolve(secret)
    if info is None:
        raise ApiError(401, "unknown device token", headers={"WWW-Authenticate": "Bearer"})
    if info.revoked:
        raise ApiError(403, "this device token was revoked")
    return info


@post(
    "/v1/events",
    status_code=202,
    security=SECURITY,
    summary="Upload a batch of browsing events",
    description=(
        "Appends the valid events of one upload to the raw event log, atomically and"
        " idempotently per `batch_id` (a retry is answered with `duplicate: true`)."
        " Invalid events are rejected one by one (`rejected[]`, kept in the quarantine"
        " stream), incognito events are refused and events on blocked domains dropped."
        " At most 500 events and `MINDHIT_MAX_BODY_BYTES` per upload (413 beyond)."
    ),
    responses={
        **_AUTH_ERRORS,
        400: _error(400, "Malformed JSON (with `position`) or an invalid envelope field."),
        413: _error(413, "Body larger than the limit or more than 500 events."),
    },
    tags=["ingest"],
)
async def post_events(request: Request[Any, Any, Any], state: State) -> Response[BatchResult]:
    """Take one upload (see the operation description)."""
    gateway = _state(state)
    started = time.perf_counter()
    user_id: str | None = None
    size = 0
    try:
        info = await _authenticate(request, gateway)
        user_id = info.user_id
        result = await _ingest(gateway, info, await request.body())
    except ApiError as exc:
        gateway.metrics.batches.labels(outcome=f"http_{exc.status_code}").inc()
        gateway.access_log.info(
            "upload", user_id=user_id, status=exc.status_code, outcome=exc.detail
        )
        raise
    size = result.accepted + result.blocked + len(result.rejected)
    outcome = "duplicate" if result.duplicate else "appended"
    gateway.metrics.batches.labels(outcome=outcome).inc()
    gateway.metrics.upload_seconds.observe(time.perf_counter() - started)
    gateway.access_log.info(
        "upload",
        user_id=user_id,
        batch_id=result.batch_id,
        events=size,
        accepted=result.accepted,
        rejected=len(result.rejected),
        blocked=result.blocked,
        outcome=outcome,
        status=202,
    )
    return Response(
        content=_batch_result.encode(result),  # type: ignore[arg-type]  # pre-encoded BatchResult
        status_code=202,
        media_type="application/json",
    )


async def _ingest(gateway: GatewayState, info: TokenInfo, body: bytes) -> BatchResult:
    """Validate, filter, append and answer one upload.

    Steps: decode (whole batch, else event by event); drop blocked events; hand
    the rest to the partition's coalescer and wait until its entry is written (or
    found to be a duplicate); then keep the rejected events in quarantine (not
    again for a duplicate); count everything.
    """
    try:
        parsed = parse_batch(body)
    except BatchError as exc:
        raise ApiError(exc.status_code, exc.detail, field=exc.field, position=exc.position) from exc
    settings = gateway.settings
    blocked = blocked_domains(settings.blocked_domains, info.blocked_domains)
    kept, blocked_count = partition_blocked(parsed.events, blocked)
    received_at = gateway.now_ms()
    append = AppendResult(duplicate=False)
    if kept:
        upload = Upload(
            batch_id=parsed.batch_id,
            user_id=info.user_id,
            client_id=parsed.client_id,
            received_at=received_at,
            events=kept,
        )
        claims = [(e.session_id, info.user_id) for e in kept if isinstance(e, SessionStarted)]
        append = await gateway.coalescer.submit(
            partition_for(info.user_id, settings.partitions),
            upload,
            claims,
            weight=len(kept) + len(body) // 1024,
        )
    if parsed.rejected and not append.duplicate:
        await write_quarantine(
            gateway.redis,
            prefix=settings.key_prefix,
            maxlen=settings.quarantine_maxlen,
            batch_id=parsed.batch_id,
            user_id=info.user_id,
            client_id=parsed.client_id,
            received_at=received_at,
            rejected=parsed.rejected,
        )
    metrics = gateway.metrics.events
    metrics.labels(outcome="duplicate" if append.duplicate else "accepted").inc(len(kept))
    metrics.labels(outcome="rejected").inc(len(parsed.rejected))
    metrics.labels(outcome="blocked").inc(blocked_count)
    return BatchResult(
        batch_id=parsed.batch_id,
        accepted=len(kept),
        blocked=blocked_count,
        duplicate=append.duplicate,
        rejected=[item.rejection for item in parsed.rejected],
    )


@post(
    "/v1/sessions",
    status_code=201,
    security=SECURITY,
    summary="Start a recording session",
    description=(
        "Appends `session.started` (client_id `server:<user_id>`, seq from a per-user"
        " counter) and returns the new session's id. The body is optional."
    ),
    responses={**_AUTH_ERRORS, 400: _error(400, "Invalid body (e.g. label too long).")},
    tags=["sessions"],
)
async def create_session(
    request: Request[Any, Any, Any],
    state: State,
    data: Annotated[SessionStart | None, Body(title="SessionStart")] = None,
) -> SessionCreated:
    """Start a session for the token's user."""
    gateway = _state(state)
    info = await _authenticate(request, gateway)
    created = await start_session(
        gateway.redis,
        gateway.settings,
        info.user_id,
        data.label if data else "",
        clock=gateway.clock,
    )
    log.info("session_started", user_id=info.user_id, session_id=created.session_id, status=201)
    return created


@post(
    "/v1/sessions/{session_id:str}/stop",
    status_code=202,
    security=SECURITY,
    summary="Stop a recording session",
    description="Appends `session.stopped`. Only the session's owner may stop it (404 otherwise).",
    responses={**_AUTH_ERRORS, 404: _error(404, "No such session for this user.")},
    tags=["sessions"],
)
async def stop_session_route(
    request: Request[Any, Any, Any], state: State, session_id: str
) -> SessionStopAccepted:
    """Stop one of the token user's sessions."""
    gateway = _state(state)
    info = await _authenticate(request, gateway)
    try:
        _uuid.decode(msgspec.json.encode(session_id))
        stopped_at = await stop_session(
            gateway.redis, gateway.settings, info.user_id, session_id, clock=gateway.clock
        )
    except (msgspec.ValidationError, SessionNotFoundError) as exc:
        log.info("session_stop", user_id=info.user_id, session_id=session_id, status=404)
        raise ApiError(404, "no such session", field="session_id") from exc
    log.info("session_stopped", user_id=info.user_id, session_id=session_id, status=202)
    return SessionStopAccepted(session_id=session_id, stopped_at=stopped_at)


@get("/healthz", summary="Liveness", tags=["operations"])
async def healthz() -> Health:
    """The process is up and serving."""
    return Health(status="ok")


@get(
    "/readyz",
    summary="Readiness: Redis and PostgreSQL reachable",
    responses={503: ResponseSpec(data_container=Health, description="A dependency is down.")},
    tags=["operations"],
)
async def readyz(state: State) -> Response[Health]:
    """Ready when Redis answers PING and PostgreSQL answers ``SELECT 1`` within a second."""
    gateway = _state(state)
    redis_status, pg_status = await asyncio.gather(_check_redis(gateway), _check_pg(gateway))
    ready = redis_status == pg_status == "ok"
    body = Health(status="ok" if ready else "unavailable", redis=redis_status, postgres=pg_status)
    return Response(content=body, status_code=200 if ready else 503)


async def _check_redis(gateway: GatewayState) -> str:
    try:
        await asyncio.wait_for(gateway.redis.ping(), 1.0)  # type: ignore[arg-type]
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


async def _check_pg(gateway: GatewayState) -> str:
    async def check() -> None:
        async with gateway.pool.connection(timeout=1.0) as conn:
            await conn.execute("SELECT 1")

    try:
        await asyncio.wait_for(check(), 1.0)
    except Exception as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


@get("/metrics", summary="Prometheus metrics", media_type=CONTENT_TYPE_LATEST, tags=["operations"])
async def metrics(state: State) -> bytes:
    """Counters and histograms in the Prometheus text format."""
    return generate_latest(_state(state).metrics.registry)


route_handlers = [post_events, create_session, stop_session_route, healthz, readyz, metrics]
