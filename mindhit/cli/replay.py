"""``mindhit replay``: rebuild read tables, optionally re-deriving history first.

Part of the composition layer because ``--rederive`` joins two services: the
processors' handlers (:class:`processors.rederive.Rederiver`) are built here and
handed to :func:`projector.replay.replay` as its ``derive`` function, so neither
service imports the other.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import click

from mindhit.command_context import settings_from
from mindhit.services import resolve_services
from mindhit.settings import Settings
from projector.projections import PROJECTIONS

if TYPE_CHECKING:
    from projector.replay import ReplayResult

__all__ = ["commands", "replay_cmd"]


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
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from mindhit.redis_client import connect_redis
    from projector.replay import ReplayError, replay

    settings = settings_from(ctx)
    services = resolve_services(settings)
    console = Console(stderr=True)
    if rederive and names:
        raise click.UsageError("--rederive rebuilds every projection; drop --projection")
    projections = names or tuple(PROJECTIONS)
    started = time.perf_counter()

    async def go() -> Any:
        redis = connect_redis(services.redis_url)
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

                def on_progress(entries: int, events: int, total: int) -> None:
                    rate = events / max(time.perf_counter() - started, 1e-6)
                    bar.update(task, total=total, completed=entries, events=events, rate=rate)

                return await replay(
                    settings,
                    redis,
                    conn,
                    projections=projections,
                    diff=diff,
                    dry_run=dry_run,
                    deriver=rederiver,
                    progress=on_progress,
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
        _echo_diff(result)
    verb = "swapped in" if result.swapped else "not swapped (dry run)"
    if rederive and result.swapped:
        settings_text = ", ".join(f"{k}={v}" for k, v in result.derived_with.items())
        click.echo(f"history re-derived as generation {result.generation} ({settings_text})")
    click.echo(
        f"replayed {result.entries} entries / {result.events} events in {result.seconds:.1f}s;"
        f" {', '.join(result.projections)} {verb}"
    )


def _echo_diff(result: ReplayResult) -> None:
    """What the replay changes (or would change), per session and per other table."""
    from projector.diff import describe_changes

    for change in result.changes:
        click.echo(describe_changes(change))
    for table, count in result.other.items():
        if count:
            click.echo(f"{table}: {count} row(s) differ")
    if not result.changes and not any(result.other.values()):
        click.echo("no changes")


def _rederiver(settings: Settings, redis: Any, *, write_cache: bool) -> Any:
    """The processors' handlers over the raw log with ``settings`` (``replay --rederive``).

    Built here and handed to :func:`projector.replay.replay` as its ``deriver``:
    re-deriving is the processors' work, folding it the projector's.
    """
    from mindhit.clock import system_clock
    from processors.ai.factory import provider_from_settings
    from processors.rederive import Rederiver

    return Rederiver(
        settings, redis, provider_from_settings(settings), system_clock, write_cache=write_cache
    )


commands: list[click.Command] = [replay_cmd]
