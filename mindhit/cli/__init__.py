"""The ``mindhit`` command line: the composition layer's entry point.

``mindhit.cli`` and its modules are the composition layer, the only code that may
import services (and the only code nothing else imports). The root command reads
the settings and puts them on the click context (read back with
:func:`mindhit.command_context.settings_from`). Core commands (``up``, ``migrate``,
``schema``, ``user``, ``token``, ``lag``) live here; each service contributes its own
commands through a module ``<service>.cli`` exposing ``commands: list[click.Command]``,
and the commands that join several services live beside this module (``web``,
``demo``, ``openapi`` in :mod:`mindhit.cli.dashboard`, ``replay`` in
:mod:`mindhit.cli.replay`). They are imported the first time a command is looked up,
so ``--help`` stays fast and one service's dependencies are not loaded by another's
command.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from mindhit.command_context import settings_from
from mindhit.logs import configure_logging
from mindhit.settings import Settings, SettingsError

__all__ = ["cli", "main"]


def _contributed_commands() -> list[click.Command]:
    """Every command the services and the other composition modules add."""
    from ingest.cli import commands as gateway_commands
    from mindhit.cli.dashboard import commands as dashboard_commands
    from mindhit.cli.recover import commands as recover_commands
    from mindhit.cli.replay import commands as replay_commands
    from processors.cli import commands as processors_commands
    from projector.cli import commands as projector_commands

    return [
        *gateway_commands,
        *processors_commands,
        *projector_commands,
        *replay_commands,
        *recover_commands,
        *dashboard_commands,
    ]


class _ServiceGroup(click.Group):
    """A group that adds each service's commands the first time they are needed."""

    _loaded = False

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for command in _contributed_commands():
            self.add_command(command)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        self._load()
        return super().get_command(ctx, cmd_name)


@click.group(cls=_ServiceGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mindhit")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """MindHit: record how you browse, see what you read.

    Settings come from MINDHIT_* environment variables (see README).
    """
    try:
        ctx.obj = Settings.from_env()
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    command = ctx.invoked_subcommand or "mindhit"
    configure_logging(ctx.obj, component=command)


@cli.command()
@click.option("--only", multiple=True, help="Run only these components (repeatable).")
@click.pass_context
def up(ctx: click.Context, only: tuple[str, ...]) -> None:
    """Run every MindHit component in one supervised process group.

    Uses MINDHIT_REDIS_URL / MINDHIT_DATABASE_URL when set, else local servers on
    the standard ports, else embedded ones kept under MINDHIT_DATA_DIR.
    Applies migrations first. Ctrl-C stops everything.
    """
    from mindhit.cli.supervisor import run_up

    available = [
        name
        for name in ("gateway", "processors", "projector", "web")
        if cli.get_command(ctx, name) is not None
    ]
    sys.exit(run_up(settings_from(ctx), list(only) or available))


@cli.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Apply pending numbered SQL migrations to the database."""
    from mindhit.db import apply_migrations
    from mindhit.services import resolve_services

    services = resolve_services(settings_from(ctx))
    try:
        applied = apply_migrations(services.database_url)
    finally:
        services.stop()
    click.echo(
        f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else "")
    )


@cli.group()
def schema() -> None:
    """Event and API contracts."""


@schema.command("export")
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
def schema_export(out: Path | None) -> None:
    """Write the JSON Schema of client events and API bodies (source of the TS types)."""
    from mindhit.schema_export import export_json_schema

    text = json.dumps(export_json_schema(), indent=2, sort_keys=True) + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        click.echo(f"wrote {out}")


def _run_db(ctx: click.Context, fn: Any) -> Any:
    """Run ``fn(conn)`` on an async connection to the resolved database."""
    from mindhit.db import connect_async
    from mindhit.services import resolve_services

    services = resolve_services(settings_from(ctx))

    async def go() -> Any:
        async with await connect_async(services.database_url, autocommit=True) as conn:
            return await fn(conn)

    try:
        return asyncio.run(go())
    finally:
        services.stop()


def _user_id(conn: Any, email: str) -> Any:
    from mindhit.accounts import find_user

    async def go() -> str:
        user = await find_user(conn, email)
        if user is None:
            raise click.ClickException(f"no user with email {email}")
        return user.user_id

    return go()


@cli.group()
def user() -> None:
    """Manage users."""


@user.command("create")
@click.argument("email")
@click.option("--admin", is_flag=True, help="May open the ops page (the admin flag).")
@click.pass_context
def user_create(ctx: click.Context, email: str, admin: bool) -> None:
    """Create a user identified by EMAIL (its address counts as confirmed).

    The user has no password yet: set one with `mindhit user password EMAIL`, or give
    them a one-time sign-in link from `mindhit user link EMAIL`.
    """
    from mindhit.accounts import AccountError, create_user

    async def go(conn: Any) -> Any:
        try:
            return await create_user(conn, email, is_admin=admin, email_confirmed=True)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc

    created = _run_db(ctx, go)
    click.echo(f"created user {created.email} ({created.user_id})")
    click.echo(
        f"no password yet: `mindhit user password {created.email}` sets one,"
        f" `mindhit user link {created.email}` prints a one-time sign-in link"
    )


def _read_password(from_stdin: bool) -> str:
    from mindhit.passwords import password_problem

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True, err=True)
    problem = password_problem(password)
    if problem:
        raise click.ClickException(problem)
    return str(password)


@user.command("password")
@click.argument("email")
@click.option(
    "--stdin", "from_stdin", is_flag=True, help="Read the password from one line of stdin."
)
@click.pass_context
def user_password(ctx: click.Context, email: str, from_stdin: bool) -> None:
    """Set the dashboard password of EMAIL (prompted twice, or from stdin).

    Every browser signed in to the account is signed out and every device token revoked.
    """
    from mindhit.accounts import set_password
    from mindhit.clock import system_clock, utc_datetime
    from mindhit.passwords import hash_password

    password = _read_password(from_stdin)

    async def go(conn: Any) -> None:
        user_id = await _user_id(conn, email)
        hashed = await hash_password(password)
        await set_password(conn, user_id, hashed, now=utc_datetime(system_clock()))

    _run_db(ctx, go)
    click.echo(f"password set for {email}; other sign-ins ended, device tokens revoked")


@user.command("link")
@click.argument("email")
@click.pass_context
def user_link(ctx: click.Context, email: str) -> None:
    """Print a one-time sign-in link for EMAIL (valid for one hour, works once).

    For a user without a password (e.g. made with `mindhit user create`): they open
    it, sign in once, and set a password in Settings. Give it to them privately.
    """
    from mindhit.account_links import SIGN_IN_TTL, create_link
    from mindhit.clock import system_clock, utc_datetime

    settings = settings_from(ctx)

    async def go(conn: Any) -> str:
        user_id = await _user_id(conn, email)
        now = utc_datetime(system_clock())
        return await create_link(conn, user_id, purpose="sign-in", now=now, ttl=SIGN_IN_TTL)

    secret = _run_db(ctx, go)
    click.echo(f"{settings.public_url.rstrip('/')}/signin-link?token={secret}")


@user.command("admin")
@click.argument("email")
@click.option("--revoke", is_flag=True, help="Take the admin flag away instead.")
@click.pass_context
def user_admin(ctx: click.Context, email: str, revoke: bool) -> None:
    """Give EMAIL the admin flag (ops page, dead letters), or take it away."""
    from mindhit.accounts import set_admin

    async def go(conn: Any) -> None:
        await set_admin(conn, await _user_id(conn, email), not revoke)

    _run_db(ctx, go)
    click.echo(f"{email} is {'no longer ' if revoke else ''}an admin")


@user.command("confirm")
@click.argument("email")
@click.pass_context
def user_confirm(ctx: click.Context, email: str) -> None:
    """Mark the address of EMAIL confirmed (the operator vouches for it)."""
    from mindhit.accounts import confirm_email, find_user
    from mindhit.clock import system_clock, utc_datetime

    async def go(conn: Any) -> None:
        found = await find_user(conn, email)
        if found is None:
            raise click.ClickException(f"no user with email {email}")
        now = utc_datetime(system_clock())
        await confirm_email(conn, found.user_id, found.email, now=now)

    _run_db(ctx, go)
    click.echo(f"{email} is confirmed")


@cli.group()
def token() -> None:
    """Manage device tokens for the extension."""


@token.command("create")
@click.option("--user", "email", required=True, help="Owner's email.")
@click.option("--device", required=True, help="A name for the device, e.g. 'laptop'.")
@click.pass_context
def token_create(ctx: click.Context, email: str, device: str) -> None:
    """Create a device token and print it once (it is stored hashed)."""
    from mindhit.accounts import AccountError, create_token

    async def go(conn: Any) -> tuple[str, str]:
        try:
            return await create_token(conn, await _user_id(conn, email), device)
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc

    _, secret = _run_db(ctx, go)
    click.echo(secret)


@token.command("revoke")
@click.option("--user", "email", required=True, help="Owner's email.")
@click.argument("token_or_device")
@click.pass_context
def token_revoke(ctx: click.Context, email: str, token_or_device: str) -> None:
    """Revoke a device token by its id or device name."""
    from mindhit.accounts import revoke_token

    async def go(conn: Any) -> int:
        return await revoke_token(conn, await _user_id(conn, email), token_or_device)

    count = _run_db(ctx, go)
    if count == 0:
        raise click.ClickException("no active token matched")
    click.echo(f"revoked {count} token(s)")


@token.command("list")
@click.option("--user", "email", required=True, help="Owner's email.")
@click.pass_context
def token_list(ctx: click.Context, email: str) -> None:
    """List a user's device tokens (never the secrets)."""
    from mindhit.accounts import list_tokens

    async def go(conn: Any) -> Any:
        return await list_tokens(conn, await _user_id(conn, email))

    for item in _run_db(ctx, go):
        state = "revoked" if item.revoked else "active"
        click.echo(f"{item.token_id}  {item.device:<20} {item.created_at}  {state}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def lag(ctx: click.Context, as_json: bool) -> None:
    """Show per topic/partition highwater, committed offsets and lag of every consumer.

    First, if Redis lost the log under the consumers' checkpoints (they stand still
    then, and lag alone would read 0): why, per checkpoint (`problems` in --json).
    """
    from mindhit.lag import run_lag_command

    click.echo(run_lag_command(settings_from(ctx), as_json=as_json))


def main() -> None:
    """Console-script entry point.

    A Redis that cannot be reached (down, or a node that stopped answering: a cluster
    call gives up after 12 s) ends a command with one line saying so, and exit status 1,
    not a traceback. Services retry such errors themselves; one that reaches here ends
    the process the same way.
    """
    from mindhit.redis_client import UNREACHABLE

    try:
        cli(prog_name="mindhit")
    except UNREACHABLE as error:
        click.echo(f"mindhit: Redis could not be reached: {error}", err=True)
        sys.exit(1)
