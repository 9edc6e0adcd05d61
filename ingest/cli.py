"""``mindhit gateway``: serve the ingest gateway with uvicorn (uvloop + httptools)."""

from __future__ import annotations

import click
import msgspec

from mindhit.command_context import settings_from

__all__ = ["commands", "gateway"]


@click.command()
@click.option("--host", default=None, help="Interface to bind (default MINDHIT_GATEWAY_HOST).")
@click.option("--port", type=int, default=None, help="Port (default MINDHIT_GATEWAY_PORT).")
@click.pass_context
def gateway(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve POST /v1/events, the session API, /healthz and /readyz; /metrics only on
    the internal port MINDHIT_GATEWAY_METRICS_PORT.

    Applies pending migrations first (idempotent, under an advisory lock), so the
    token table exists even when the gateway is started on its own.
    """
    import uvicorn

    from ingest.app import create_app
    from mindhit.db import apply_migrations
    from mindhit.services import resolve_services

    settings = settings_from(ctx)
    services = resolve_services(settings)
    try:
        settings = msgspec.structs.replace(
            settings, redis_url=services.redis_url, database_url=services.database_url
        )
        apply_migrations(settings.database_url)
        app = create_app(settings, tune_gc=True, metrics_port=settings.gateway_metrics_port or None)
        uvicorn.run(
            app,
            host=host or settings.gateway_host,
            port=settings.gateway_port if port is None else port,
            loop="uvloop",
            http="httptools",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=5,
        )
    finally:
        services.stop()


commands: list[click.Command] = [gateway]
