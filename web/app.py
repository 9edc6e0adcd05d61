"""The dashboard's composition root: the only module that reads settings and builds clients.

``create_app(settings)`` wires a psycopg connection pool and a Redis client (opened in
the lifespan, injected with ``Provide``), the sign-in dependency, CSRF protection, the
security headers, Jinja templates, the built front-end assets and both routers: HTML
pages and the ``/v1`` JSON API. The combined OpenAPI document of the gateway and the
dashboard is handed in by the composition layer (``mindhit web``), which alone may
import both services.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
from litestar import Controller, Litestar, Request, Response
from litestar.config.csrf import CSRFConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from psycopg_pool import AsyncConnectionPool

from mindhit.accounts import User
from mindhit.clock import Clock, system_clock, utc_datetime
from mindhit.logs import get_logger
from mindhit.metrics_http import serve_metrics
from mindhit.redis_client import connect_redis
from mindhit.settings import Settings
from web import filters
from web.account_api import AccountApiController
from web.account_pages import AccountPages
from web.api import ApiController, MetaController, OpsApiController
from web.auth import user_for_login
from web.common import admin_addresses, with_admin_rights
from web.display import DisplayApi
from web.metrics import MetricsMiddleware, WebMetrics
from web.next_path import login_path
from web.nul_guard import refuse_nul
from web.overview_routes import OverviewApi, OverviewPages
from web.owning_routes import OwningApi, OwningPages
from web.pages import OpsPages, Pages
from web.pairing import PairingApi, PairingPages
from web.proxies import TrustedProxyMiddleware, parse_networks
from web.ratelimit import WindowLimiter
from web.security import (
    SESSION_COOKIE,
    SecurityHeadersMiddleware,
    cookie_secure,
    derived_key,
    secret_key,
)
from web.throttle import SignInThrottle

__all__ = ["CONTROLLERS", "OpenAPIDocument", "create_app"]

log = get_logger(__name__)
HERE = Path(__file__).parent

OpenAPIDocument = Callable[[], dict[str, Any]]
"""Builds the combined OpenAPI document (called once, on the first request for it)."""


async def _configure_connection(conn: psycopg.AsyncConnection[Any]) -> None:
    # dashboard queries are short; JIT compilation (tens of ms) only slows them down
    await conn.execute("SET jit = off")


async def _provide_conn(state: State) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    pool: AsyncConnectionPool[Any] = state.pool
    async with pool.connection() as conn:
        yield conn


async def _provide_user(
    request: Request[Any, Any, Any], conn: psycopg.AsyncConnection[Any], clock: Clock
) -> User:
    value = request.cookies.get(SESSION_COOKIE)
    user = await user_for_login(conn, value, now=utc_datetime(clock())) if value else None
    if user is None:
        raise NotAuthorizedException("Sign in first.")
    return with_admin_rights(user, request.app.state.admin_addresses)


async def _provide_optional_user(
    request: Request[Any, Any, Any], conn: psycopg.AsyncConnection[Any], clock: Clock
) -> User | None:
    value = request.cookies.get(SESSION_COOKIE)
    return await user_for_login(conn, value, now=utc_datetime(clock())) if value else None


def _is_api(request: Request[Any, Any, Any]) -> bool:
    return (
        request.url.path.startswith("/v1/")
        or "application/json" in request.headers.get("accept", "").split(",")[0]
    )


def _on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if _is_api(request):
        body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
        if exc.extra:  # e.g. which field failed validation, and why
            body["extra"] = exc.extra
        return Response(body, status_code=exc.status_code, headers=exc.headers)
    if isinstance(exc, NotAuthorizedException):
        # Back to the page asked for after signing in (a GET's path and query only).
        asked = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        target = login_path(asked if request.method == "GET" else None)
        return Redirect(path=target, status_code=303)
    return Template(
        template_name="error.html",
        context={"status": exc.status_code, "detail": exc.detail, "user": None},
        status_code=exc.status_code,
    )


def _on_not_found(request: Request[Any, Any, Any], exc: NotFoundException) -> Response[Any]:
    return _on_http_error(request, exc)


def _on_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("request_failed", path=request.url.path)
    return _on_http_error(request, HTTPException(status_code=500, detail="Something went wrong."))


@asynccontextmanager
async def _lifespan(
    app: Litestar, *, settings: Settings, metrics: WebMetrics, metrics_port: int | None
) -> AsyncIterator[None]:
    """Open the connection pool, the Redis client and the internal metrics listener for
    the app's life; close them after."""
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=10,
        kwargs={"autocommit": True},
        configure=_configure_connection,
        open=False,
    )
    await pool.open(wait=True, timeout=30)
    client = connect_redis(settings.redis_url)
    app.state.pool = pool
    app.state.redis = client
    app.state.limiter = WindowLimiter(client, settings.key_prefix)
    app.state.throttle = SignInThrottle(client, settings.key_prefix)
    app.state.device_secret = derived_key(secret_key(settings), "known-device")
    app.state.admin_addresses = admin_addresses(settings.admin_emails)
    app.state.metrics = metrics
    listener = (
        await serve_metrics(settings.web_host, metrics_port, metrics.registry, component="web")
        if metrics_port
        else None
    )
    try:
        yield
    finally:
        if listener is not None:
            listener.close()
        await client.aclose()
        await pool.close()


CONTROLLERS: tuple[type[Controller], ...] = (
    Pages,
    AccountPages,
    OpsPages,
    PairingPages,
    ApiController,
    AccountApiController,
    OpsApiController,
    PairingApi,
    MetaController,
    DisplayApi,
    OwningApi,
    OwningPages,
    OverviewApi,
    OverviewPages,
)
"""Every page and API controller the dashboard serves (the static files come on top)."""


def create_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    openapi_document: OpenAPIDocument | None = None,
    metrics_port: int | None = None,
) -> Litestar:
    """Build the dashboard application for ``settings``.

    Args:
        settings: resolved settings (``database_url`` and ``redis_url`` must be set).
        clock: the time source handlers use (tests inject a fixed one).
        openapi_document: builds the combined OpenAPI document served at
            ``/schema/openapi.json`` (404 without it).
        metrics_port: serve ``/metrics`` on this internal port (on ``web_host``);
            ``None`` = not at all. The public port never serves it.
    """
    if settings.env == "production" and not settings.secret_key:
        raise RuntimeError("MINDHIT_SECRET_KEY must be set in production")
    try:
        proxies = parse_networks(settings.trusted_proxies)
    except ValueError as exc:
        raise RuntimeError(str(exc)) from exc
    secure = cookie_secure(settings)
    metrics = WebMetrics()
    static = create_static_files_router(
        path="/static", directories=[HERE / "static"], include_in_schema=False
    )
    engine_config = TemplateConfig(
        directory=HERE / "templates",
        engine=JinjaTemplateEngine,
        engine_callback=filters.install,
    )
    return Litestar(
        route_handlers=[*CONTROLLERS, static],
        lifespan=[
            partial(_lifespan, settings=settings, metrics=metrics, metrics_port=metrics_port)
        ],
        state=State({"openapi_builder": openapi_document}),
        dependencies={
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            "clock": Provide(lambda: clock, use_cache=True, sync_to_thread=False),
            "conn": Provide(_provide_conn),
            "user": Provide(_provide_user),
            "maybe_user": Provide(_provide_optional_user),
        },
        csrf_config=CSRFConfig(
            secret=secret_key(settings),
            cookie_name="mh_csrf",
            cookie_secure=secure,
            cookie_samesite="strict",
            header_name="x-csrftoken",
        ),
        middleware=[
            lambda app: TrustedProxyMiddleware(
                app, trusted=proxies, header=settings.forwarded_header
            ),
            lambda app: MetricsMiddleware(app, metrics=metrics),
            lambda app: SecurityHeadersMiddleware(app, hsts=secure),
        ],
        template_config=engine_config,
        before_request=refuse_nul,
        exception_handlers={
            HTTPException: _on_http_error,
            NotFoundException: _on_not_found,
            Exception: _on_error,
        },
        openapi_config=OpenAPIConfig(
            title="MindHit dashboard API",
            version="1.0.0",
            path="/schema/dashboard",
            render_plugins=[JsonRenderPlugin()],
        ),
        logging_config=None,
        debug=False,
    )
