"""The dashboard's JSON API (``/v1/...``), documented in the combined OpenAPI.

Authenticated by the same sign-in cookie as the pages; every unsafe method needs the
CSRF token in the ``X-CSRFToken`` header (the map island sends it). Every handler is
scoped to the signed-in user: another user's session id answers 404.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.exceptions import NotAuthorizedException, NotFoundException, ValidationException

from mindhit.accounts import DeviceToken, SignedOutError, User, list_tokens
from mindhit.clock import Clock, utc_datetime
from mindhit.settings import Settings
from web import actions, ops, store
from web.auth import session_hash
from web.common import parse_cursor, require_admin
from web.models import (
    Account,
    CreatedToken,
    DeadLetterItem,
    ErasureResult,
    LagRow,
    MindmapView,
    NewToken,
    SearchResults,
    SessionControlResult,
    SessionList,
    SessionTimeline,
    UserHealth,
    UserPreferences,
)
from web.security import SESSION_COOKIE
from web.snippets import normalize_domains
from web.timeline import build_timeline

__all__ = ["ApiController", "MetaController", "OpsApiController"]

Conn = psycopg.AsyncConnection[Any]


class ApiController(Controller):
    """The signed-in user's data."""

    path = "/v1"
    tags = ["dashboard"]

    @get("/me", summary="The signed-in user")
    async def me(self, user: User) -> Account:
        return Account(
            user_id=user.user_id,
            email=user.email,
            is_admin=user.is_admin,
            email_confirmed=user.email_confirmed,
            has_password=user.has_password,
        )

    @get("/sessions", summary="The user's sessions, newest first (50 per page)")
    async def sessions(self, user: User, conn: Conn, before: str | None = None) -> SessionList:
        return await store.list_sessions(conn, user.user_id, before=parse_cursor(before))

    @post("/sessions/start", summary="Start a recording session", status_code=201)
    async def start(
        self,
        request: Request[Any, Any, Any],
        user: User,
        settings: Settings,
        clock: Clock,
        label: str = "",
    ) -> SessionControlResult:
        try:
            return await actions.start_session(
                request.app.state.redis, settings, user.user_id, clock=clock, label=label
            )
        except actions.ActionError as exc:
            raise ValidationException(str(exc)) from exc

    @post(
        "/sessions/{session_id:str}/end", summary="Stop (end) a recording session", status_code=200
    )
    async def stop(
        self,
        request: Request[Any, Any, Any],
        session_id: str,
        user: User,
        conn: Conn,
        settings: Settings,
        clock: Clock,
    ) -> SessionControlResult:
        stopped = (
            await actions.stop_session(
                request.app.state.redis, settings, user.user_id, session_id, clock=clock, conn=conn
            )
            if store.valid_uuid(session_id)
            else None
        )
        if stopped is None:
            raise NotFoundException("No such session.")
        return stopped

    @get("/sessions/{session_id:str}", summary="A session's timeline")
    async def timeline(self, session_id: str, user: User, conn: Conn) -> SessionTimeline:
        session = await store.get_session(conn, user.user_id, session_id)
        if session is None:
            raise NotFoundException("No such session.")
        built = build_timeline(await store.session_visits(conn, user.user_id, session_id))
        return SessionTimeline(
            session=session,
            entries=built.entries,
            domains=built.domains,
            total_dwell_ms=built.total_dwell_ms,
        )

    @get("/sessions/{session_id:str}/mindmap", summary="A session's mind map")
    async def mindmap(self, session_id: str, user: User, conn: Conn) -> MindmapView:
        view = await store.get_mindmap(conn, user.user_id, session_id)
        if view is None:
            raise NotFoundException("No mind map for this session (yet).")
        return view

    @get("/search", summary="Full-text search over everything the user read")
    async def search(self, user: User, conn: Conn, q: str) -> SearchResults:
        return await store.search(conn, user.user_id, q)

    @get("/settings", summary="Block list, idle threshold, email reports")
    async def get_settings(self, user: User, conn: Conn) -> UserPreferences:
        return await store.get_preferences(conn, user.user_id)

    @put("/settings", summary="Replace the user's settings")
    async def put_settings(self, user: User, conn: Conn, data: UserPreferences) -> UserPreferences:
        valid, invalid = normalize_domains(list(data.blocked_domains))
        if invalid:
            raise ValidationException(f"not domains: {', '.join(invalid[:5])}")
        prefs = UserPreferences(
            blocked_domains=valid,
            idle_threshold_s=data.idle_threshold_s,
            email_reports=data.email_reports,
        )
        await store.put_preferences(conn, user.user_id, prefs)
        return prefs

    @get("/tokens", summary="The user's device tokens (never the secrets)")
    async def tokens(self, user: User, conn: Conn) -> list[DeviceToken]:
        return await list_tokens(conn, user.user_id)

    @post(
        "/tokens",
        summary="Create a device token for the extension",
        description=(
            "Made only while this sign-in stands (else 401): 'sign out everywhere' and a"
            " password change revoke every device token, erasure deletes them."
        ),
        status_code=201,
        raises=[ValidationException, NotAuthorizedException],
    )
    async def create_token(
        self, request: Request[Any, Any, Any], user: User, conn: Conn, clock: Clock, data: NewToken
    ) -> CreatedToken:
        try:
            return await actions.new_token(
                conn,
                user.user_id,
                data.device,
                login=session_hash(request.cookies.get(SESSION_COOKIE, "")),
                now=utc_datetime(clock()),
            )
        except SignedOutError as exc:
            raise NotAuthorizedException("This sign-in has ended.") from exc
        except actions.ActionError as exc:
            raise ValidationException(str(exc)) from exc

    @delete("/tokens/{token_id:str}", summary="Revoke a device token", status_code=204)
    async def revoke_token(self, token_id: str, user: User, conn: Conn) -> None:
        if not store.valid_uuid(token_id) or not await actions.remove_token(
            conn, user.user_id, token_id
        ):
            raise NotFoundException("No such active token.")

    @post(
        "/erase",
        summary="Erase all my data",
        description=(
            "Everything recorded goes (sessions, visits, pages, mind maps, the archive), every"
            " sign-in ends and every device token is deleted. The block list stays, so an"
            " extension paired afterwards records none of those domains; the idle threshold"
            " and report mails are reset. Events an extension recorded before the erasure"
            " and uploads afterwards are dropped (the gateway counts them in `blocked`), and"
            " a pairing answers with another `account`, so the extension deletes them."
        ),
        status_code=202,
    )
    async def erase(
        self,
        request: Request[Any, Any, Any],
        user: User,
        conn: Conn,
        settings: Settings,
        clock: Clock,
    ) -> Response[ErasureResult]:
        result = await actions.erase_account(
            conn, request.app.state.redis, settings, user, clock=clock
        )
        return Response(result, status_code=202)

    @get("/health", summary="The user's pipeline health")
    async def health(
        self,
        request: Request[Any, Any, Any],
        user: User,
        conn: Conn,
        settings: Settings,
    ) -> UserHealth:
        return await ops.user_health(conn, request.app.state.redis, settings, user.user_id)


class OpsApiController(Controller):
    """Admin only: lag and dead letters."""

    path = "/v1/admin"
    tags = ["ops"]

    @get("/lag", summary="Lag per consumer, topic and partition")
    async def lag(
        self, request: Request[Any, Any, Any], user: User, conn: Conn, settings: Settings
    ) -> list[LagRow]:
        require_admin(user)
        return await ops.lag_rows(conn, request.app.state.redis, settings)

    @get("/dead-letters", summary="Dead letters, newest first")
    async def dead_letters(
        self, request: Request[Any, Any, Any], user: User, settings: Settings
    ) -> list[DeadLetterItem]:
        require_admin(user)
        return await ops.dead_letters(request.app.state.redis, settings)

    @post("/dead-letters/{letter_id:str}/retry", summary="Retry one dead letter", status_code=202)
    async def retry(
        self,
        request: Request[Any, Any, Any],
        letter_id: str,
        user: User,
        settings: Settings,
        clock: Clock,
    ) -> None:
        require_admin(user)
        if not await ops.retry_dead_letter(
            request.app.state.redis, settings, letter_id, clock=clock
        ):
            raise NotFoundException("No such dead letter.")


class MetaController(Controller):
    """The combined OpenAPI document and a liveness probe (not part of the public API)."""

    include_in_schema = False

    @get("/schema/openapi.json", media_type="application/json")
    async def openapi_document(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        cached = getattr(request.app.state, "openapi_document", None)
        if cached is None:
            build = request.app.state.openapi_builder
            if build is None:
                raise NotFoundException("No OpenAPI document was given to this app.")
            cached = build()
            request.app.state.openapi_document = cached
        return cached

    @get("/healthz", media_type="application/json")
    async def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", media_type="application/json")
    async def readyz(self, request: Request[Any, Any, Any]) -> Response[dict[str, str]]:
        """Ready when Redis answers PING and PostgreSQL ``SELECT 1`` within a second."""

        async def redis_ok() -> str:
            try:
                await asyncio.wait_for(request.app.state.redis.ping(), 1.0)
            except Exception as exc:
                return f"error: {type(exc).__name__}"
            return "ok"

        async def pg_ok() -> str:
            try:
                async with asyncio.timeout(1.0), request.app.state.pool.connection() as conn:
                    await conn.execute("SELECT 1")
            except Exception as exc:
                return f"error: {type(exc).__name__}"
            return "ok"

        redis_status, pg_status = await asyncio.gather(redis_ok(), pg_ok())
        ready = redis_status == pg_status == "ok"
        body = {
            "status": "ok" if ready else "unavailable",
            "redis": redis_status,
            "postgres": pg_status,
        }
        return Response(body, status_code=200 if ready else 503)
