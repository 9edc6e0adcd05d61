"""The gateway's HTTP endpoints: sessions, health and readiness.

``POST /v1/events``, the hot path, is a raw ASGI endpoint in :mod:`ingest.upload`.
Metrics are not served here but on the internal metrics port (:mod:`mindhit.metrics_http`).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body

from ingest.auth import authenticate
from ingest.durability import require_durable
from ingest.errors import ApiError
from ingest.session_claims import legacy_owners
from ingest.state import GatewayState
from ingest.upload import post_events
from mindhit.logs import get_logger
from mindhit.redis_durability import VolatileRedisError
from mindhit.session_log import MAX_LABEL_LENGTH, SessionNotFoundError, start_session, stop_session
from schema.api import ErrorBody, SessionCreated
from schema.events import UUID_PATTERN
from schema.nul import NUL_REASON

__all__ = ["SECURITY", "SessionStart", "SessionStopAccepted", "route_handlers"]

SECURITY: list[dict[str, list[str]]] = [{"deviceToken": []}]

log = get_logger("ingest")
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
    429: _error(429, "A quota of the user is used up; retry after `Retry-After` seconds."),
    503: _error(
        503,
        "Redis or PostgreSQL unavailable, or (production) Redis would not keep what it"
        " acknowledges; retry after `Retry-After` seconds.",
    ),
}


def _state(state: State) -> GatewayState:
    gateway = state.gateway
    assert isinstance(gateway, GatewayState)
    return gateway


@post(
    "/v1/sessions",
    status_code=201,
    security=SECURITY,
    summary="Start a recording session",
    description=(
        "Appends `session.started` (client_id `server:<user_id>`, seq from a per-user"
        " counter) and returns the new session's id. The body is optional."
    ),
    responses={
        **_AUTH_ERRORS,
        400: _error(400, "Invalid body (e.g. label too long, or holding a NUL character)."),
    },
    tags=["sessions"],
)
async def create_session(
    request: Request[Any, Any, Any],
    state: State,
    data: Annotated[SessionStart | None, Body(title="SessionStart")] = None,
) -> SessionCreated:
    """Start a session for the token's user."""
    gateway = _state(state)
    info = await authenticate(request.headers.get("authorization"), gateway)
    if data is not None and "\x00" in data.label:
        raise ApiError(400, f"label {NUL_REASON}", field="label")
    await require_durable(gateway.durability)
    await gateway.quota.charge(info.user_id, 0, gateway.now_ms())
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
    info = await authenticate(request.headers.get("authorization"), gateway)
    await require_durable(gateway.durability)
    await gateway.quota.charge(info.user_id, 0, gateway.now_ms())
    try:
        _uuid.decode(msgspec.json.encode(session_id))
        stopped_at = await stop_session(
            gateway.redis,
            gateway.settings,
            info.user_id,
            session_id,
            clock=gateway.clock,
            legacy=legacy_owners(gateway.pool),
        )
    except (msgspec.ValidationError, SessionNotFoundError) as exc:
        log.info("session_stop", user_id=info.user_id, session_id=session_id, status=404)
        raise ApiError(404, "no such session", field="session_id") from exc
    gateway.own_sessions.forget(session_id)  # its next upload is told it was stopped
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
    """Ready when Redis answers PING and PostgreSQL answers ``SELECT 1`` within a second,
    and Redis's durability was checked (started while Redis was down: checked here)."""
    gateway = _state(state)
    redis_status, pg_status = await asyncio.gather(_check_redis(gateway), _check_pg(gateway))
    ready = redis_status == pg_status == "ok"
    body = Health(status="ok" if ready else "unavailable", redis=redis_status, postgres=pg_status)
    return Response(content=body, status_code=200 if ready else 503)


async def _check_redis(gateway: GatewayState) -> str:
    try:
        await asyncio.wait_for(gateway.redis.ping(), 1.0)  # type: ignore[arg-type]
        # asked here while unchecked (Redis down at start-up); free once it passed
        await asyncio.wait_for(gateway.durability.ensure(again=True), 1.0)
    except VolatileRedisError as exc:
        return f"volatile: {exc}"
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


route_handlers = [post_events, create_session, stop_session_route, healthz, readyz]
