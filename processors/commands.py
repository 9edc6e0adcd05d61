"""``mindhit processors`` (the Faust worker) and ``mindhit dlq list|retry`` (dead letters)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import click
import msgspec

from mindhit.command_context import settings_from
from mindhit.redis_client import connect_redis
from mindhit.settings import Settings

__all__ = ["commands", "dlq", "processors"]


@click.command()
@click.option(
    "--host", default=None, help="Metrics/health interface (default MINDHIT_PROCESSORS_HOST)."
)
@click.option(
    "--port", type=int, default=None, help="Metrics/health port (default MINDHIT_PROCESSORS_PORT)."
)
@click.pass_context
def processors(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Run the stream processors: dwell time, URL enrichment and session mind maps."""
    from faust.worker import Worker

    from mindhit.services import resolve_services
    from processors.app import build_app, tune_gc

    settings = settings_from(ctx)
    overrides: dict[str, object] = {}
    if host:
        overrides["processors_host"] = host
    if port is not None:
        overrides["processors_port"] = port
    settings = msgspec.structs.replace(settings, **overrides)  # type: ignore[arg-type]
    services = resolve_services(settings)
    try:
        from processors.report import reporter_from_settings

        reporter = reporter_from_settings(settings, services.database_url)
        app = build_app(settings, services.redis_url, on_built=reporter)
        tune_gc()
        worker = Worker(
            app,
            loglevel=settings.log_level,
            redirect_stdouts=False,
            override_logging=False,
        )
        worker.execute_from_commandline()
    finally:
        services.stop()


@click.group()
def dlq() -> None:
    """Dead letters: AI work that failed (enrichments, mind maps)."""


def _ts(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S") if ms else "-"


@dlq.command("list")
@click.option("--pending", is_flag=True, help="Only dead letters not retried yet.")
@click.option("--user", "user_id", default=None, help="Only this user's.")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def dlq_list(
    ctx: click.Context, pending: bool, user_id: str | None, limit: int, as_json: bool
) -> None:
    """Show dead letters, newest first."""
    from rich.console import Console
    from rich.table import Table

    from mindhit.dlq import list_dead_letters

    settings = settings_from(ctx)

    async def run() -> list[object]:
        conn = _Redis(settings)
        try:
            return list(
                await list_dead_letters(
                    conn.client, settings, user_id=user_id, pending_only=pending, limit=limit
                )
            )
        finally:
            await conn.aclose()

    views = asyncio.run(run())
    if as_json:
        click.echo(json.dumps(msgspec.to_builtins(views), indent=2))
        return
    table = Table(title=f"{len(views)} dead letter(s)")
    for column in ("id", "kind", "key", "user", "failed", "status", "error"):
        table.add_column(column)
    for v in views:
        table.add_row(
            v.dlq_id,  # type: ignore[attr-defined]
            v.kind,  # type: ignore[attr-defined]
            v.key,  # type: ignore[attr-defined]
            v.user_id,  # type: ignore[attr-defined]
            _ts(v.failed_ts),  # type: ignore[attr-defined]
            v.status,  # type: ignore[attr-defined]
            v.error,  # type: ignore[attr-defined]
        )
    Console().print(table)


@dlq.command("retry")
@click.argument("dlq_ids", nargs=-1, required=False)
@click.option("--all-pending", is_flag=True, help="Retry every dead letter not retried yet.")
@click.pass_context
def dlq_retry(ctx: click.Context, dlq_ids: tuple[str, ...], all_pending: bool) -> None:
    """Re-enqueue the work of dead letters (by id, or --all-pending)."""
    from mindhit.clock import system_clock
    from mindhit.dlq import DeadLetterNotFound, list_dead_letters, retry_dead_letter

    settings = settings_from(ctx)
    if not dlq_ids and not all_pending:
        raise click.UsageError("give dead-letter ids or --all-pending")

    async def run() -> int:
        conn = _Redis(settings)
        client = conn.client
        try:
            ids = list(dlq_ids)
            if all_pending:
                views = await list_dead_letters(client, settings, pending_only=True, limit=10**6)
                ids.extend(v.dlq_id for v in views)
            failed = 0
            for dlq_id in ids:
                try:
                    view = await retry_dead_letter(client, settings, dlq_id, clock=system_clock)
                except DeadLetterNotFound:
                    click.echo(f"no dead letter {dlq_id}", err=True)
                    failed += 1
                    continue
                click.echo(f"retried {view.dlq_id} ({view.kind} {view.key})")
            if not ids:
                click.echo("nothing to retry")
            return failed
        finally:
            await conn.aclose()

    if asyncio.run(run()):
        ctx.exit(1)


class _Redis:
    """A Redis client for a one-shot command; embedded servers it started stop with it."""

    def __init__(self, settings: Settings) -> None:
        from mindhit.services import resolve_services

        self._services = resolve_services(settings)
        self.client = connect_redis(self._services.redis_url)

    async def aclose(self) -> None:
        await self.client.aclose()
        self._services.stop()


commands: list[click.Command] = [processors, dlq]
