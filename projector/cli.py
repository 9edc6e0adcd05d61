"""Commands the projector contributes to ``mindhit``: ``projector``, ``erase``.

(``replay`` joins the projector and the processors, so it lives in the composition
layer: :mod:`mindhit.cli.replay`.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import click

from mindhit.command_context import settings_from

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

    from mindhit.clock import system_clock
    from mindhit.redis_client import connect_redis
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
                redis = connect_redis(services.redis_url)
                try:
                    return await erase_user(
                        settings,
                        redis,
                        conn,
                        target,
                        reason=reason,
                        delete_account=not keep_account,
                        clock=system_clock,
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


commands: list[click.Command] = [projector_cmd, erase_cmd]
