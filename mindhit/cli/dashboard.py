"""The dashboard's commands: ``mindhit web``, ``mindhit demo``, ``mindhit openapi``.

They live in the composition layer because each joins two services: the dashboard
serves the one OpenAPI document of both APIs (merged here and handed to
:func:`web.app.create_app`, so the dashboard never imports the gateway), the demo
uploads through the gateway and waits for the projector.
"""

from __future__ import annotations

import json
import sys
from functools import partial
from pathlib import Path

import click
import msgspec

from mindhit.command_context import settings_from

__all__ = ["commands", "demo", "openapi", "web"]


@click.command()
@click.option("--host", default=None, help="Interface to bind (default MINDHIT_WEB_HOST).")
@click.option("--port", type=int, default=None, help="Port (default MINDHIT_WEB_PORT).")
@click.pass_context
def web(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the dashboard and its /v1 JSON API (/metrics only on the internal port
    MINDHIT_WEB_METRICS_PORT)."""
    import uvicorn

    from mindhit.cli.openapi import combined_openapi
    from mindhit.services import resolve_services
    from web.app import create_app
    from web.assets import ensure_assets

    settings = settings_from(ctx)
    ensure_assets()
    services = resolve_services(settings)
    try:
        settings = msgspec.structs.replace(
            settings, redis_url=services.redis_url, database_url=services.database_url
        )
        app = create_app(
            settings,
            openapi_document=partial(combined_openapi, settings),
            metrics_port=settings.web_metrics_port or None,
        )
        uvicorn.run(
            app,
            host=host or settings.web_host,
            port=settings.web_port if port is None else port,
            log_config=None,
            access_log=False,
            server_header=False,
            # forwarded headers are trusted only from MINDHIT_TRUSTED_PROXIES (web.proxies)
            proxy_headers=False,
            timeout_graceful_shutdown=5,
        )
    finally:
        services.stop()


@click.command()
@click.option("--email", required=True, help="Whose dashboard to fill (created if missing).")
@click.option("--password", default=None, help="Password for a new account (else none).")
@click.option("--token", default=None, help="Device token to upload with (else one is made).")
@click.option(
    "--gateway",
    "gateway_url",
    default=None,
    help="Gateway base URL (default http://MINDHIT_GATEWAY_HOST:MINDHIT_GATEWAY_PORT).",
)
@click.option(
    "--sessions",
    "session_count",
    type=int,
    default=3,
    show_default=True,
    help="How many sessions to generate (a day apart, all in the last 6 days by default).",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed.")
@click.pass_context
def demo(
    ctx: click.Context,
    email: str,
    password: str | None,
    token: str | None,
    gateway_url: str | None,
    session_count: int,
    seed: int,
) -> None:
    """Fill a dashboard with realistic sessions from the demo corpus, via the real gateway."""
    from mindhit.cli.demo import DemoError, DemoRequest, run_demo

    settings = settings_from(ctx)
    url = gateway_url or f"http://{settings.gateway_host}:{settings.gateway_port}"
    request = DemoRequest(
        email=email,
        password=password,
        token=token,
        gateway_url=url,
        sessions=session_count,
        seed=seed,
    )
    try:
        result = run_demo(settings, request)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(msgspec.to_builtins(result)))


@click.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
def openapi(out: Path | None) -> None:
    """Write the one OpenAPI document of the gateway and dashboard APIs."""
    from mindhit.cli.openapi import combined_openapi

    text = json.dumps(combined_openapi(), indent=2, sort_keys=True) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        click.echo(f"wrote {out}")


commands: list[click.Command] = [web, demo, openapi]
