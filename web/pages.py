"""HTML pages: sessions, timeline, mind map, search, settings, health, ops.

Server-rendered with Jinja (autoescaped), forms protected by the CSRF token, and
post/redirect/get so a reload never repeats an action. The mind map page is the one
JavaScript island (``static/dist/mindmap.js``), fed by the JSON API. Signing up, in and
out, passwords and address confirmation are in :mod:`web.account_pages`.
"""

from __future__ import annotations

from typing import Annotated, Any

import psycopg
from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body
from litestar.response import Redirect, Template

from mindhit.accounts import SignedOutError, User
from mindhit.clock import Clock, utc_datetime
from mindhit.settings import Settings
from web import actions, ops, store
from web.auth import session_hash
from web.common import parse_cursor, require_admin
from web.display import get_display
from web.outline import to_markdown
from web.owning import pending_deletions
from web.security import SESSION_COOKIE, login_cookie
from web.settings_page import settings_page
from web.snippets import normalize_domains
from web.timeline import build_timeline

__all__ = ["OpsPages", "Pages"]

Conn = psycopg.AsyncConnection[Any]
Form = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _page(name: str, user: User | None, status_code: int = 200, **context: Any) -> Template:
    return Template(template_name=name, context={"user": user, **context}, status_code=status_code)


class Pages(Controller):
    """Everything a signed-in user (or a visitor signing in) sees."""

    include_in_schema = False

    @get("/")
    async def home(self, maybe_user: User | None) -> Redirect:
        return Redirect(path="/sessions" if maybe_user else "/login", status_code=303)

    @get("/sessions")
    async def sessions(
        self, user: User, conn: Conn, clock: Clock, before: str | None = None
    ) -> Template:
        cursor = parse_cursor(before)
        listing = await store.list_sessions(conn, user.user_id, before=cursor)
        deletions = await pending_deletions(conn, user.user_id, now=utc_datetime(clock()))
        return _page("sessions.html", user, listing=listing, error="", deletions=deletions)

    @post("/sessions/start")
    async def start(
        self,
        request: Request[Any, Any, Any],
        user: User,
        settings: Settings,
        clock: Clock,
        data: Form,
    ) -> Redirect:
        started = await actions.start_session(
            request.app.state.redis,
            settings,
            user.user_id,
            clock=clock,
            label=data.get("label", "").strip()[:200],
        )
        return Redirect(path=f"/sessions?started={started.session_id}", status_code=303)

    @post("/sessions/{session_id:str}/stop")
    async def stop(
        self,
        request: Request[Any, Any, Any],
        session_id: str,
        user: User,
        conn: Conn,
        settings: Settings,
        clock: Clock,
    ) -> Redirect:
        if (
            not store.valid_uuid(session_id)
            or await actions.stop_session(
                request.app.state.redis, settings, user.user_id, session_id, clock=clock, conn=conn
            )
            is None
        ):
            raise NotFoundException("No such session.")
        return Redirect(path="/sessions", status_code=303)

    @get("/sessions/{session_id:str}")
    async def timeline(self, session_id: str, user: User, conn: Conn) -> Template:
        session = await store.get_session(conn, user.user_id, session_id)
        if session is None:
            raise NotFoundException("No such session.")
        visits = await store.session_visits(conn, user.user_id, session_id)
        return _page("timeline.html", user, session=session, timeline=build_timeline(visits))

    @get("/sessions/{session_id:str}/map")
    async def mindmap(self, session_id: str, user: User, conn: Conn) -> Template:
        session = await store.get_session(conn, user.user_id, session_id)
        if session is None:
            raise NotFoundException("No such session.")
        view = await store.get_mindmap(conn, user.user_id, session_id)
        display = await get_display(conn, user.user_id)
        return _page("mindmap.html", user, session=session, view=view, display=display)

    @get("/sessions/{session_id:str}/map.md", media_type="text/markdown; charset=utf-8")
    async def mindmap_markdown(self, session_id: str, user: User, conn: Conn) -> Response[str]:
        found = await store.get_mindmap_tree(conn, user.user_id, session_id)
        if found is None:
            raise NotFoundException("This session has no mind map yet.")
        return Response(
            to_markdown(found[0]),
            media_type="text/markdown; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="mindmap-{session_id}.md"'},
        )

    @get("/search")
    async def search(self, user: User, conn: Conn, q: str = "") -> Template:
        results = await store.search(conn, user.user_id, q)
        return _page("search.html", user, results=results, q=q)

    @get("/settings")
    async def settings(
        self,
        user: User,
        conn: Conn,
        settings: Settings,
        clock: Clock,
        welcome: str = "",
        saved: str = "",
        notice: str = "",
    ) -> Template:
        return await settings_page(
            user,
            conn,
            settings,
            now=utc_datetime(clock()),
            notice="welcome" if welcome else "saved" if saved else notice,
        )

    @post("/settings")
    async def save_settings(
        self, user: User, conn: Conn, settings: Settings, clock: Clock, data: Form
    ) -> Response[Any]:
        valid, invalid = normalize_domains(data.get("blocked_domains", ""))
        try:
            idle = int(data.get("idle_threshold_s", "60"))
        except ValueError:
            idle = -1
        errors = []
        if invalid:
            errors.append("Not domains: " + ", ".join(invalid[:5]))
        if not 15 <= idle <= 3600:
            errors.append("The idle threshold must be between 15 and 3600 seconds.")
        if errors:
            return await settings_page(
                user, conn, settings, now=utc_datetime(clock()), error=" ".join(errors), status=400
            )
        await store.put_preferences(
            conn,
            user.user_id,
            store.UserPreferences(
                blocked_domains=valid,
                idle_threshold_s=idle,
                email_reports=data.get("email_reports") == "on",
            ),
        )
        return Redirect(path="/settings?saved=1", status_code=303)

    @post("/settings/tokens")
    async def create_token(
        self,
        request: Request[Any, Any, Any],
        user: User,
        conn: Conn,
        settings: Settings,
        clock: Clock,
        data: Form,
    ) -> Response[Any]:
        try:
            created = await actions.new_token(
                conn,
                user.user_id,
                data.get("device", ""),
                login=session_hash(request.cookies.get(SESSION_COOKIE, "")),
                now=utc_datetime(clock()),
            )
        except SignedOutError:
            return Redirect(path="/login", status_code=303)
        except actions.ActionError as exc:
            return await settings_page(
                user, conn, settings, now=utc_datetime(clock()), error=str(exc), status=400
            )
        return await settings_page(user, conn, settings, now=utc_datetime(clock()), created=created)

    @post("/settings/tokens/{token_id:str}/revoke")
    async def revoke(self, token_id: str, user: User, conn: Conn) -> Redirect:
        if not store.valid_uuid(token_id) or not await actions.remove_token(
            conn, user.user_id, token_id
        ):
            raise NotFoundException("No such active token.")
        return Redirect(path="/settings", status_code=303)

    @post("/settings/erase")
    async def erase(
        self,
        request: Request[Any, Any, Any],
        user: User,
        conn: Conn,
        settings: Settings,
        clock: Clock,
        data: Form,
    ) -> Response[Any]:
        if data.get("confirm", "").strip().lower() != "erase":
            return await settings_page(
                user,
                conn,
                settings,
                now=utc_datetime(clock()),
                error="Type ERASE to confirm.",
                status=400,
            )
        await actions.erase_account(conn, request.app.state.redis, settings, user, clock=clock)
        return Redirect(
            path="/login?erased=1",
            status_code=303,
            cookies=[login_cookie("", settings, clear=True)],
        )

    @get("/health")
    async def health(
        self,
        request: Request[Any, Any, Any],
        user: User,
        conn: Conn,
        settings: Settings,
    ) -> Template:
        health = await ops.user_health(conn, request.app.state.redis, settings, user.user_id)
        return _page("health.html", user, health=health)


class OpsPages(Controller):
    """The admin-only operations page: lag per topic/partition/projection, dead letters."""

    include_in_schema = False

    @get("/ops")
    async def ops_page(
        self, request: Request[Any, Any, Any], user: User, conn: Conn, settings: Settings
    ) -> Template:
        require_admin(user)
        lag, lost = await ops.lag_with_problems(conn, request.app.state.redis, settings)
        letters = await ops.dead_letters(request.app.state.redis, settings)
        groups = await ops.worker_groups(request.app.state.redis, settings)
        partitions, table = ops.pivot_lag(lag)
        return _page(
            "ops.html",
            user,
            partitions=partitions,
            lag=table,
            letters=letters,
            lost=lost,
            groups=groups,
        )

    @post("/ops/dead-letters/{letter_id:str}/retry")
    async def retry(
        self,
        request: Request[Any, Any, Any],
        letter_id: str,
        user: User,
        settings: Settings,
        clock: Clock,
    ) -> Redirect:
        require_admin(user)
        if not await ops.retry_dead_letter(
            request.app.state.redis, settings, letter_id, clock=clock
        ):
            raise NotFoundException("No such dead letter.")
        return Redirect(path="/ops", status_code=303)
