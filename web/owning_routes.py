"""Pages and ``/v1`` API for owning your sessions: rename, delete/undo, retention, export.

Registered by :func:`web.app.create_app` beside the other controllers. Pages use
post/redirect/get with the CSRF token; the API answers JSON with the same Structs.
"""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException
from litestar.params import Body
from litestar.response import Redirect, Template

from mindhit.accounts import User
from mindhit.clock import Clock, utc_datetime
from mindhit.settings import Settings
from web import owning, store
from web.export import export_archive
from web.models import SessionSummary
from web.owning import DeletionState, RenameSession, RetentionSettings

__all__ = ["OwningApi", "OwningPages"]

Conn = psycopg.AsyncConnection[Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _fail(exc: owning.OwningError) -> HTTPException:
    return HTTPException(status_code=exc.status, detail=str(exc))


def _zip(body: bytes, stamp: str) -> Response[bytes]:
    return Response(
        body,
        media_type="application/zip",
        headers={
            "content-disposition": f'attachment; filename="mindhit-export-{stamp}.zip"',
            "cache-control": "no-store",
        },
    )


class OwningApi(Controller):
    """``/v1``: rename, delete and restore a session; retention; export everything."""

    path = "/v1"
    tags = ["dashboard"]

    @put("/sessions/{session_id:str}/name", summary="Rename a session ('' restores its label)")
    async def rename(
        self, session_id: str, user: User, conn: Conn, clock: Clock, data: RenameSession
    ) -> SessionSummary:
        try:
            await owning.rename_session(
                conn, user.user_id, session_id, data.label, now=utc_datetime(clock())
            )
        except owning.OwningError as exc:
            raise _fail(exc) from exc
        found = await store.get_session(conn, user.user_id, session_id)
        assert found is not None
        return found

    @post(
        "/sessions/{session_id:str}/deletion",
        summary="Delete a session (erased after MINDHIT_DELETE_UNDO_S unless undone)",
        status_code=202,
    )
    async def remove(
        self, session_id: str, user: User, conn: Conn, clock: Clock, settings: Settings
    ) -> DeletionState:
        try:
            return await owning.request_deletion(
                conn,
                user.user_id,
                session_id,
                now=utc_datetime(clock()),
                undo_s=settings.delete_undo_s,
            )
        except owning.OwningError as exc:
            raise _fail(exc) from exc

    @delete(
        "/sessions/{session_id:str}/deletion",
        summary="Undo a session's deletion (409 once it is being erased)",
        status_code=200,
    )
    async def restore(self, session_id: str, user: User, conn: Conn, clock: Clock) -> DeletionState:
        try:
            return await owning.undo_deletion(
                conn, user.user_id, session_id, now=utc_datetime(clock())
            )
        except owning.OwningError as exc:
            raise _fail(exc) from exc

    @get("/deletions", summary="Deletions that can still be undone")
    async def deletions(self, user: User, conn: Conn, clock: Clock) -> list[DeletionState]:
        return await owning.pending_deletions(conn, user.user_id, now=utc_datetime(clock()))

    @get("/settings/retention", summary="How long the user's history is kept")
    async def retention(self, user: User, conn: Conn, settings: Settings) -> RetentionSettings:
        return await owning.get_retention(conn, user.user_id, default_days=settings.retention_days)

    @put("/settings/retention", summary="Keep history N days (days: null = server default)")
    async def put_retention(
        self, user: User, conn: Conn, settings: Settings, data: RetentionSettings
    ) -> RetentionSettings:
        try:
            return await owning.put_retention(
                conn, user.user_id, data.days, default_days=settings.retention_days
            )
        except owning.OwningError as exc:
            raise _fail(exc) from exc

    @get(
        "/export",
        summary="Everything the user has, as a zip of JSON and CSV files",
        media_type="application/zip",
    )
    async def export(self, user: User, conn: Conn, clock: Clock) -> Response[bytes]:
        now = utc_datetime(clock())
        return _zip(await export_archive(conn, user, now=now), now.strftime("%Y%m%d"))


class OwningPages(Controller):
    """Form actions on the session pages and the "Your history" settings page."""

    include_in_schema = False

    @post("/sessions/{session_id:str}/rename")
    async def rename(
        self, session_id: str, user: User, conn: Conn, clock: Clock, data: Form
    ) -> Redirect:
        try:
            await owning.rename_session(
                conn, user.user_id, session_id, data.get("label", ""), now=utc_datetime(clock())
            )
        except owning.OwningError as exc:
            raise _fail(exc) from exc
        return Redirect(path=f"/sessions/{session_id}", status_code=303)

    @post("/sessions/{session_id:str}/delete")
    async def remove(
        self, session_id: str, user: User, conn: Conn, clock: Clock, settings: Settings
    ) -> Redirect:
        try:
            await owning.request_deletion(
                conn,
                user.user_id,
                session_id,
                now=utc_datetime(clock()),
                undo_s=settings.delete_undo_s,
            )
        except owning.OwningError as exc:
            raise _fail(exc) from exc
        return Redirect(path=f"/sessions?deleted={session_id}", status_code=303)

    @post("/sessions/{session_id:str}/restore")
    async def restore(self, session_id: str, user: User, conn: Conn, clock: Clock) -> Redirect:
        try:
            await owning.undo_deletion(conn, user.user_id, session_id, now=utc_datetime(clock()))
        except owning.OwningError as exc:
            raise _fail(exc) from exc
        return Redirect(path=f"/sessions?restored={session_id}", status_code=303)

    @get("/settings/history")
    async def history(
        self, request: Request[Any, Any, Any], user: User, conn: Conn, settings: Settings
    ) -> Template:
        retention = await owning.get_retention(
            conn, user.user_id, default_days=settings.retention_days
        )
        return Template(
            template_name="history.html",
            context={
                "user": user,
                "retention": retention,
                "saved": bool(request.query_params.get("saved")),
                "error": "",
            },
        )

    @post("/settings/history")
    async def save_history(
        self, user: User, conn: Conn, settings: Settings, data: Form
    ) -> Response[Any]:
        raw = data.get("days", "").strip()
        try:
            days = int(raw) if raw else None
            if days is not None and days < 1:
                raise owning.OwningError("Keep history at least one day, or leave it empty.")
            await owning.put_retention(
                conn, user.user_id, days, default_days=settings.retention_days
            )
        except (ValueError, owning.OwningError) as exc:
            retention = await owning.get_retention(
                conn, user.user_id, default_days=settings.retention_days
            )
            message = str(exc) if isinstance(exc, owning.OwningError) else "Days must be a number."
            return Template(
                template_name="history.html",
                context={"user": user, "retention": retention, "saved": False, "error": message},
                status_code=400,
            )
        return Redirect(path="/settings/history?saved=1", status_code=303)

    @get("/export.zip")
    async def export(self, user: User, conn: Conn, clock: Clock) -> Response[bytes]:
        now = utc_datetime(clock())
        return _zip(await export_archive(conn, user, now=now), now.strftime("%Y%m%d"))
