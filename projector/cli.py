"""Commands the projector contributes to ``mindhit``: ``projector``, ``replay``, ``erase``."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import click

from mindhit.cli import settings_from
from mindhit.settings import Settings
from projector.projections import PROJECTIONS

__all__ = ["commands"]


def _services(ctx: click.Context) -> Any:
    from mindhit.services import resolve_services

    return resolve_services(settings_from(ctx))


@click.command("projector")
@click.option("--no-archive", is_flag=True, help="Fold only; do not archive or trim the log.")
@click.pass_context
def projector_cmd(ctx: click.Context, no_archive: bool) -> None:
    """Fold the event log into the read tables, archive it and trim the streams."""
    from projector.app import run_projector

    settings = settings_from(ctx)
    services = _services(ctx)
    try:
        asyncio.run(
            run_projector(
                settings, services.redis_url, services.database_url, archive=not no_archive
            )
        )
    finally:
        services.stop()


@click.command("replay")
@click.option(
    "--projection",
    "names",
    multiple=True,
    type=click.Choice(sorted(PROJECTIONS)),
    help="Rebuild only this projection (repeatable; default: all).",
)
@click.option("--diff", is_flag=True, help="Print what changes per session before swapping.")
@click.option("--dry-run", is_flag=True, help="Build and diff, but keep the live tables.")
@click.option(
    "--rederive",
    is_flag=True,
    help="Re-derive history with the current settings (MINDHIT_IDLE_THRESHOLD_S,"
    " MINDHIT_AI_PROVIDER…): run the processors again over the raw log instead of"
    " reading their past output. Rebuilds every projection.",
)
@click.pass_context
def replay_cmd(
    ctx: click.Context, names: tuple[str, ...], diff: bool, dry_run: bool, rederive: bool
) -> None:
    """Rebuild read tables from the archive and the live tail, then swap them in atomically.

    With --rederive, visits, sessions, summaries and mind maps are computed again
    from the raw log with the current settings, and kept so later replays rebuild
    the same; combine with --diff --dry-run to see what would change first.
    """
    import psycopg
    import redis.asyncio as aioredis
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from projector.diff import describe_changes
    from projector.replay import ReplayError, replay

    settings = settings_from(ctx)
    services = _services(ctx)
    console = Console(stderr=True)
    if rederive and names:
        raise click.UsageError("--rederive rebuilds every projection; drop --projection")
    projections = names or tuple(PROJECTIONS)
    started = time.perf_counter()

    async def go() -> Any:
        redis = aioredis.Redis.from_url(services.redis_url)
        rederiver = _rederiver(settings, redis, write_cache=not dry_run) if rederive else None
        try:
            with (
                psycopg.connect(services.database_url) as conn,
                Progress(
                    TextColumn("[bold]replay[/] {task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TextColumn(
                        "entries · {task.fields[events]:,} events · {task.fields[rate]:,.0f} ev/s"
                    ),
                    TimeElapsedColumn(),
                    TimeRemainingColumn(),
                    console=console,
                    transient=False,
                ) as bar,
            ):
                task = bar.add_task(",".join(projections), total=None, events=0, rate=0.0)

                def on_total(total: int) -> None:
                    bar.update(task, total=total)

                def on_progress(entries: int, events: int) -> None:
                    rate = events / max(time.perf_counter() - started, 1e-6)
                    bar.update(task, completed=entries, events=events, rate=rate)

                return await replay(
                    settings,
                    redis,
                    conn,
                    projections=projections,
                    diff=diff,
                    dry_run=dry_run,
                    derive=rederiver.derive if rederiver else None,
                    derive_settings=rederiver.settings if rederiver else None,
                    progress=on_progress,
                    on_total=on_total,
                )
        finally:
            if rederiver is not None:
                await rederiver.aclose()
            await redis.aclose()

    try:
        result = asyncio.run(go())
    except ReplayError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        services.stop()
    if diff:
        for change in result.changes:
            click.echo(describe_changes(change))
        for table, count in result.other.items():
            if count:
                click.echo(f"{table}: {count} row(s) differ")
        if not result.changes and not any(result.other.values()):
            click.echo("no changes")
    verb = "swapped in" if result.swapped else "not swapped (dry run)"
    if rederive and result.swapped:
        settings_text = ", ".join(f"{k}={v}" for k, v in result.derived_with.items())
        click.echo(f"history re-derived as generation {result.generation} ({settings_text})")
    click.echo(
        f"replayed {result.entries} entries / {result.events} events in {result.seconds:.1f}s;"
        f" {', '.join(result.projections)} {verb}"
    )


def _rederiver(settings: Settings, redis: Any, *, write_cache: bool) -> Any:
    """The processors' handlers over the raw log with ``settings`` (``replay --rederive``).

    The one place the projector reaches into the processors: re-deriving is
    their work, folding it is ours.
    """
    from processors.ai.factory import provider_from_settings
    from processors.app import system_clock
    from processors.rederive import Rederiver

    return Rederiver(
        settings, redis, provider_from_settings(settings), system_clock, write_cache=write_cache
    )


@click.command("erase")
@click.option("--user", "email", help="Email of the user to erase.")
@click.option("--user-id", help="User id to erase (when the account is already gone).")
@click.option("--reason", default="", help="Recorded with the tombstone.")
@click.option("--keep-account", is_flag=True, help="Erase the data but keep the account.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def erase_cmd(
    ctx: click.Context,
    email: str | None,
    user_id: str | None,
    reason: str,
    keep_account: bool,
    yes: bool,
) -> None:
    """Erase every trace of a user: read tables, archive, hot log and the account.

    With --keep-account the user can keep signing in and what they record afterwards
    is projected again.
    """
    import psycopg
    import redis.asyncio as aioredis

    from projector.erase import erase_user, find_user_id
    from projector.folds import is_uuid

    if not email and not user_id:
        raise click.UsageError("give --user EMAIL or --user-id UUID")
    settings = settings_from(ctx)
    services = _services(ctx)
    try:
        with psycopg.connect(services.database_url) as conn:
            target = user_id or find_user_id(conn, email or "")
            if not target or not is_uuid(target):
                raise click.ClickException(f"no user {email or user_id}")
            if not yes:
                click.confirm(
                    f"Erase all data of {email or target}? This cannot be undone", abort=True
                )

            async def go() -> Any:
                redis = aioredis.Redis.from_url(services.redis_url)
                try:
                    return await erase_user(
                        settings,
                        redis,
                        conn,
                        target,
                        reason=reason,
                        delete_account=not keep_account,
                        now_ms=lambda: time.time_ns() // 1_000_000,
                    )
                finally:
                    await redis.aclose()

            report = asyncio.run(go())
    finally:
        services.stop()
    click.echo(
        f"erased user {report.user_id}: {report.rows_deleted} row(s) deleted,"
        f" {report.entries_trimmed} stream entries trimmed"
    )
    if report.pending_purges:
        click.echo(
            f"{report.pending_purges} stream partition(s) still hold their entries; the projector"
            " trims them once every consumer has read past them"
        )


commands: list[click.Command] = [projector_cmd, replay_cmd, erase_cmd]
