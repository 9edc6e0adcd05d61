"""``mindhit recover``: bring a log Redis lost back in line with the consumers' checkpoints.

Part of the composition layer: it reads the projector's archive (``event_log``) and
clears the processors' positions and state, so it joins both services' data. What
it does to each stream is :mod:`mindhit.recovery`; when the log counts as lost is
:mod:`mindhit.log_epoch`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from typing import Any

import click
import psycopg
import redis.asyncio as aioredis

from mindhit import checkpoints, recovery
from mindhit.command_context import settings_from
from mindhit.db import sql_file
from mindhit.keys import PROJECTOR_GROUP, group_members_key, groups_key
from mindhit.lag import collect_lag
from mindhit.log_epoch import RECOVERING, epoch_key, new_epoch
from mindhit.offsets import clear_partition
from mindhit.recovery import ArchivedEntry, StreamPlan
from mindhit.replica_wait import replica_holds
from mindhit.settings import Settings
from mindhit.streams import url_versions_token_key
from projector.projections import ARCHIVER
from schema.derived import MindmapBuilt
from schema.log import FIELD_VALUE, LogEntryError, decode_derived_entry
from schema.topics import DERIVED_TOPICS, RAW_TOPIC, partition_tag, stream_key

__all__ = ["commands", "recover_cmd"]

TOPICS = (RAW_TOPIC, *DERIVED_TOPICS)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_PAGE = sql_file("mindhit.cli", "recover_archive_page")
_LOGGED = sql_file("mindhit.cli", "recover_logged_at")


@click.command("recover")
@click.option(
    "--reseed",
    is_flag=True,
    help="(a) Write the archive (event_log) back into the streams at its own offsets, so"
    " positions line up again and the processors can fold the partition again from its"
    " start. Loses only what some consumer read but the archive never got (shown first).",
)
@click.option(
    "--reset",
    is_flag=True,
    help="(b) Keep only the new log: move it past every checkpoint without writing the"
    " archive back. The processors start empty on it (state of sessions open at the loss"
    " is gone). Needs --yes.",
)
@click.option("--yes", is_flag=True, help="Confirm --reset.")
@click.option(
    "--partition",
    "only",
    multiple=True,
    type=int,
    help="Recover only this partition (repeatable; default: every partition whose log was lost).",
)
@click.pass_context
def recover_cmd(
    ctx: click.Context, reseed: bool, reset: bool, yes: bool, only: tuple[int, ...]
) -> None:
    """Recover after Redis lost the log (restart without persistence, failover behind).

    Without --reseed or --reset, shows which checkpoints the log no longer backs and
    what recovery would do (exit status 1 when something needs recovering). Stop the
    processors first; the gateway and the projector may keep running (the gateway
    answers 503 while a partition is rebuilt, the projector resumes on its own).
    Uploads acknowledged after the loss are kept and appended after the recovered log.
    """
    if reseed and reset:
        raise click.UsageError("choose one of --reseed and --reset")
    settings = settings_from(ctx)
    code = asyncio.run(_recover(settings, reseed=reseed, reset=reset, yes=yes, only=only))
    ctx.exit(code)


async def _recover(
    settings: Settings, *, reseed: bool, reset: bool, yes: bool, only: tuple[int, ...]
) -> int:
    from mindhit.db import connect_async
    from mindhit.redis_client import connect_redis
    from mindhit.services import resolve_services

    services = resolve_services(settings)
    client = connect_redis(services.redis_url)
    aconn = await connect_async(services.database_url, autocommit=True)
    conn = psycopg.connect(services.database_url, autocommit=True)
    try:
        report = await collect_lag(client, settings.key_prefix, settings.partitions, aconn)
        for problem in report.problems:
            click.echo(f"{problem.kind}: {problem.reason}")
        partitions = sorted(set(only) or {p.partition for p in report.problems})
        if not partitions:
            click.echo("the log backs every checkpoint: nothing to recover")
            return 0
        positions = checkpoints.positions(conn)
        plans = [
            recovery.plan_stream(stream_key(settings.key_prefix, t, p), t, p, positions, ARCHIVER)
            for p in partitions
            for t in TOPICS
        ]
        _show(plans)
        if not (reseed or reset):
            click.echo("nothing changed: run with --reseed (or --reset --yes)")
            return 1
        if reset and not yes:
            click.echo("--reset loses the processors' state and the window above: add --yes")
            return 1
        holder = await _live_processor(client, settings.key_prefix)
        if holder:
            click.echo(f"stop the processors first: {holder}")
            return 1
        for partition in partitions:
            mine = [plan for plan in plans if plan.partition == partition]
            await _recover_partition(client, conn, settings, mine, reseed=reseed)
        return 0
    finally:
        conn.close()
        await aconn.close()
        await client.aclose()
        services.stop()


def _show(plans: list[StreamPlan]) -> None:
    for plan in plans:
        click.echo(
            f"{plan.stream}: archived below {plan.archived}, furthest checkpoint {plan.reach},"
            f" lost window {plan.lost} entries"
        )
    click.echo(f"entries read by a consumer but never archived: {sum(p.lost for p in plans)}")


async def _live_processor(client: aioredis.Redis, prefix: str) -> str | None:
    """A processors group with a live member (heartbeat not expired), described.

    Groups are found by their members' keys (a running worker heartbeats them back
    after a loss, before it commits again), plus those that ever committed; the
    projector's group is not one (the projector stands still while the log is lost).
    """
    now_s, now_us = await client.time()
    now_ms = int(now_s) * 1000 + int(now_us) // 1000
    committed: Any = await client.smembers(groups_key(prefix))  # type: ignore[misc]
    keys = {group_members_key(prefix, g.decode()) for g in committed}
    async for found in client.scan_iter(match=group_members_key(prefix, "*"), count=1000):
        keys.add(found.decode() if isinstance(found, bytes) else found)
    keys.discard(group_members_key(prefix, PROJECTOR_GROUP))  # the projector may run on
    for key in sorted(keys):
        live: Any = await client.zrangebyscore(key, now_ms, "+inf")
        if live:
            members = ", ".join(m.decode() if isinstance(m, bytes) else m for m in live)
            return f"{key} has live members: {members}"
    return None


async def _recover_partition(
    client: aioredis.Redis,
    conn: psycopg.Connection[Any],
    settings: Settings,
    plans: list[StreamPlan],
    *,
    reseed: bool,
) -> None:
    """Recover one partition: the steps of :mod:`mindhit.recovery`, in order."""
    prefix, partition = settings.key_prefix, plans[0].partition
    await client.set(epoch_key(prefix, partition), RECOVERING + new_epoch())
    for plan in plans:
        held = await recovery.set_aside(client, plan.stream)
        archived = _logged_at(conn, plan, [offset for offset, _ in held])
        written = 0
        if reseed:
            written = await recovery.write_archived(client, plan.stream, _archive(conn, plan))
        new = [
            fields
            for offset, fields in held
            if archived.get(offset) != int(fields.get(b"t", b"-1"))
        ]
        await recovery.set_reach(client, plan.stream, plan.reach)
        raw = plan.topic == RAW_TOPIC
        kept = await recovery.append_held(client, plan.stream, new) if raw else 0
        if not raw:
            await _forget_dropped_maps(client, prefix, new)
        await client.delete(recovery.held_key(plan.stream))
        click.echo(
            f"{plan.stream}: {written} archived entries written back, {kept} newer appended"
            f" after offset {plan.reach}, {len(new) - kept} newer derived entries dropped"
        )
    await _reset_processors(client, prefix, partition)
    epoch = new_epoch()
    with conn.transaction():
        stamped = checkpoints.stamp(conn, partition, TOPICS, epoch)
    await client.set(epoch_key(prefix, partition), epoch)
    click.echo(f"partition {partition}: epoch {epoch}, {stamped} checkpoint(s) stamped")


async def _reset_processors(client: aioredis.Redis, prefix: str, partition: int) -> None:
    """The processors fold the partition again from its start: positions and state cleared."""
    for raw in await client.smembers(groups_key(prefix)):  # type: ignore[misc]
        group = raw.decode() if isinstance(raw, bytes) else raw
        await clear_partition(client, prefix, group, partition)
    # processors.state.StateStore's keys: the dwell fold's per-user state of the partition
    # and its last-write set (one slot: {pN}).
    tag = partition_tag(partition)
    await client.delete(f"{prefix}:{tag}:dwell-state", f"{prefix}:{tag}:dwell-written")
    # Markers written since the loss may be gone: no worker keeps versions as announced
    # (and a replica holds that, so a failover does not bring the old token back).
    await client.delete(url_versions_token_key(prefix))
    await replica_holds(client, prefix, url_versions_token_key(prefix))


async def _forget_dropped_maps(
    client: aioredis.Redis, prefix: str, dropped: list[dict[bytes, bytes]]
) -> None:
    """Maps built after the loss were dropped with their entries: let them be built again."""
    from processors.content import ContentStore

    content = ContentStore(client, prefix)
    for fields in dropped:
        try:
            entry = decode_derived_entry(fields.get(FIELD_VALUE, b""))
        except LogEntryError:
            continue
        for event in entry.events:
            if isinstance(event, MindmapBuilt):
                await content.forget_mindmap_done(event.user_id, event.session_id)


def _logged_at(
    conn: psycopg.Connection[Any], plan: StreamPlan, offsets: list[int]
) -> dict[int, int]:
    """Archived offsets among ``offsets`` → their timestamp (ms)."""
    if not offsets:
        return {}
    rows = conn.execute(_LOGGED, (plan.topic, plan.partition, offsets)).fetchall()
    return {int(o): int((at - _EPOCH) / dt.timedelta(milliseconds=1)) for o, at in rows}


def _archive(
    conn: psycopg.Connection[Any], plan: StreamPlan, page: int = 512
) -> Iterator[ArchivedEntry]:
    """The archived entries of one stream in offset order, parts joined, paged."""
    position = 0
    while position < plan.archived:
        upto = min(plan.archived, position + page)
        rows = conn.execute(_PAGE, (plan.topic, plan.partition, position, upto)).fetchall()
        group: list[tuple[Any, ...]] = []
        for row in rows:
            if group and group[0][0] != row[0]:
                yield _entry(plan.topic, group)
                group = []
            group.append(row)
        if group:
            yield _entry(plan.topic, group)
        position = upto


def _entry(topic: str, rows: list[tuple[Any, ...]]) -> ArchivedEntry:
    offset, logged_at, key, _, headers = rows[0]
    return ArchivedEntry(
        int(offset),
        int((logged_at - _EPOCH) / dt.timedelta(milliseconds=1)),
        bytes(key),
        recovery.join_parts(topic, [bytes(r[3]) for r in rows]),
        bytes(headers) if headers is not None else None,
    )


commands: list[click.Command] = [recover_cmd]
