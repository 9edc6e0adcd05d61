"""Consumer lag: how far each consumer is behind each topic partition.

Two kinds of consumers read the topic streams: Faust workers (committed offsets
in ``<prefix>:{pN}:offsets:<group>`` hashes, written by the ``redis://`` transport, see
:mod:`mindhit.keys` and :mod:`mindhit.offsets`) and projectors
(``projection_checkpoints`` rows in PostgreSQL).
The report also names the re-derived history in force (``derivations``), whose
cutover decides which derived entries the projectors skip. For each partition
the report gives the highwater (the offset the next append gets), what the
consumer committed (the next offset it will read) and the lag between them.

A lag of 0 may also mean Redis lost the log under the checkpoints (restart without
persistence, failover to a replica behind): the report lists every checkpoint the
log no longer backs (:mod:`mindhit.log_epoch`) as ``problems``, first thing in the text.
The overview's rollups catch up behind the visits projection: ``overview`` gives the
changes not yet drained into them and the oldest one's age (``projector.overview_drainer``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import redis.asyncio as aioredis

from mindhit.checkpoints import positions_async
from mindhit.db import sql_file
from mindhit.groups import GroupView, read_groups
from mindhit.keys import (
    TP,
    groups_key,
    topics_key,
)
from mindhit.log_epoch import LogProblem, Position, check_log, read_epochs
from mindhit.offsets import committed_of, faust_positions, read_group_fields
from mindhit.settings import Settings
from mindhit.streams import highwaters
from schema.topics import DERIVED_TOPICS, RAW_TOPIC, stream_key

__all__ = [
    "ConsumerLag",
    "DerivationInfo",
    "LagReport",
    "OverviewLag",
    "PartitionLag",
    "build_report",
    "collect_lag",
    "faust_positions",
    "render_text",
    "run_lag_command",
]


class PartitionLag(msgspec.Struct, frozen=True, kw_only=True):
    """One consumer on one partition."""

    topic: str
    partition: int
    highwater: int
    committed: int | None
    lag: int


class ConsumerLag(msgspec.Struct, frozen=True, kw_only=True):
    """One consumer (a Faust group or a projection) on every partition it reads."""

    kind: str
    name: str
    total_lag: int
    partitions: list[PartitionLag]


class DerivationInfo(msgspec.Struct, frozen=True, kw_only=True):
    """The re-derived history in force (``mindhit replay --rederive``), if any."""

    generation: int
    created_at: str
    settings: dict[str, Any]
    cutover: dict[str, int]


class OverviewLag(msgspec.Struct, frozen=True, kw_only=True):
    """The overview's rollups behind ``page_visits``: changes the drainer has not folded."""

    pending_changes: int
    oldest_s: float


class LagReport(msgspec.Struct, frozen=True, kw_only=True):
    """Highwaters of every known partition, the lag of every consumer, the derivation."""

    prefix: str
    highwaters: dict[str, list[int]]
    consumers: list[ConsumerLag]
    derivation: DerivationInfo | None = None
    problems: list[LogProblem] = []
    """Checkpoints the log no longer backs (the log was lost): consumers stand still."""
    groups: list[GroupView] = []
    """Each Faust group's and the projector group's generation, members and their partitions."""
    overview: OverviewLag | None = None
    """The overview's rollups behind the visits projection (None: PostgreSQL not asked)."""


def _consumer(
    kind: str, name: str, committed: Mapping[TP, int], highwaters: Mapping[TP, int]
) -> ConsumerLag:
    topics = {topic for topic, _ in committed}
    rows: list[PartitionLag] = []
    for topic, partition in sorted(tp for tp in highwaters if tp[0] in topics):
        hw = highwaters[(topic, partition)]
        done = committed.get((topic, partition))
        rows.append(
            PartitionLag(
                topic=topic,
                partition=partition,
                highwater=hw,
                committed=done,
                lag=max(0, hw - (done or 0)),
            )
        )
    return ConsumerLag(kind=kind, name=name, total_lag=sum(r.lag for r in rows), partitions=rows)


def build_report(
    prefix: str,
    highwaters: Mapping[TP, int],
    groups: Mapping[str, Mapping[TP, int]],
    projections: Mapping[str, Mapping[TP, int]],
) -> LagReport:
    """Combine highwaters and committed offsets into a report (pure).

    A consumer is listed on every partition of each topic it committed on at all;
    a partition it never committed on lags by the whole highwater.
    """
    by_topic: dict[str, list[int]] = {}
    for (topic, partition), hw in sorted(highwaters.items()):
        row = by_topic.setdefault(topic, [])
        row.extend([0] * (partition + 1 - len(row)))
        row[partition] = hw
    consumers = [_consumer("faust", name, groups[name], highwaters) for name in sorted(groups)]
    consumers += [
        _consumer("projection", name, projections[name], highwaters) for name in sorted(projections)
    ]
    return LagReport(prefix=prefix, highwaters=by_topic, consumers=consumers)


async def _highwaters(client: aioredis.Redis, prefix: str, tps: Iterable[TP]) -> dict[TP, int]:
    """Each partition's highwater; a node that does not answer ends the command (before, its
    partitions read as highwater 0 and the command waited for the next call too)."""
    wanted = sorted(set(tps))
    found = await highwaters(client, [stream_key(prefix, t, p) for t, p in wanted])
    return dict(zip(wanted, found, strict=True))


def _by_consumer(positions: Iterable[Position]) -> dict[str, dict[TP, int]]:
    result: dict[str, dict[TP, int]] = {}
    for p in positions:
        result.setdefault(p.consumer, {})[(p.topic, p.partition)] = p.offset
    return result


async def _derivation(conn: Any) -> DerivationInfo | None:
    cur = await conn.execute("SELECT to_regclass('derivations') IS NOT NULL")
    row = await cur.fetchone()
    if not row or not row[0]:
        return None
    cur = await conn.execute(sql_file("mindhit", "derivation_latest"))
    row = await cur.fetchone()
    if row is None:
        return None
    return DerivationInfo(
        generation=int(row[0]),
        created_at=row[1].isoformat(timespec="seconds"),
        settings=dict(row[2]),
        cutover={str(k): int(v) for k, v in row[3].items()},
    )


async def _overview(conn: Any) -> OverviewLag | None:
    async with conn.transaction():  # 50,001 rows at most, from the table's start
        await conn.execute("SET LOCAL synchronize_seqscans = off")
        cur = await conn.execute(sql_file("mindhit", "overview_pending"))
        row = await cur.fetchone()
    return OverviewLag(pending_changes=int(row[0]), oldest_s=round(float(row[1]), 3))


async def collect_lag(
    client: aioredis.Redis, prefix: str, partitions: int, conn: Any | None = None
) -> LagReport:
    """Read highwaters, Faust commits and (when ``conn`` is given) projector checkpoints.

    Topics are MindHit's own (raw and derived, ``partitions`` each), every topic
    declared by a Faust app, and every topic a consumer committed on.
    """
    counts: dict[str, int] = {topic: partitions for topic in (RAW_TOPIC, *DERIVED_TOPICS)}
    declared: Any = await client.hgetall(topics_key(prefix))
    for name, meta in declared.items():
        counts[name.decode()] = int(msgspec.msgpack.decode(meta)["partitions"])
    groups: dict[str, dict[TP, int]] = {}
    positions: list[Position] = []
    members: Any = await client.smembers(groups_key(prefix))
    most = max(counts.values())
    for member in sorted(members):
        group = member.decode()
        stored = await read_group_fields(client, prefix, group, most)
        groups[group] = committed_of(stored)
        positions += faust_positions(group, stored)
    pg_positions = await positions_async(conn) if conn is not None else []
    projections = _by_consumer(pg_positions)
    derivation = await _derivation(conn) if conn is not None else None
    tps: set[TP] = {(t, p) for t, n in counts.items() for p in range(n)}
    for committed in (*groups.values(), *projections.values()):
        tps.update(committed)
        for topic, _ in committed:
            tps.update((topic, p) for p in range(counts.get(topic, partitions)))
    highwaters = await _highwaters(client, prefix, tps)
    report = build_report(prefix, highwaters, groups, projections)
    epochs = await read_epochs(client, prefix, partitions)
    problems = check_log([*positions, *pg_positions], highwaters, epochs)
    return msgspec.structs.replace(
        report,
        derivation=derivation,
        problems=problems,
        groups=await read_groups(client, prefix),
        overview=await _overview(conn) if conn is not None else None,
    )


def _ranges(partitions: list[int]) -> str:
    """``[0, 1, 2, 5]`` as ``0-2 5``."""
    spans: list[list[int]] = []
    for p in partitions:
        if spans and p == spans[-1][1] + 1:
            spans[-1][1] = p
        else:
            spans.append([p, p])
    text = " ".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)
    return text or "none"


def render_text(report: LagReport) -> str:
    """A plain-text rendering for terminals (a lost log first: lag figures then mislead)."""
    lines = []
    if report.problems:
        lines += [
            f"LOG LOST: {len(report.problems)} checkpoint(s) are not backed by the log;"
            " consumers stand still until `mindhit recover` (see README, Recovering a lost log):"
        ]
        lines += [f"  {p.kind}: {p.reason}" for p in report.problems]
        lines.append("")
    lines += [f"prefix {report.prefix}", "", "highwaters (per partition):"]
    width = max((len(t) for t in report.highwaters), default=5)
    for topic, values in sorted(report.highwaters.items()):
        lines.append(f"  {topic:<{width}}  {' '.join(str(v) for v in values)}")
    for consumer in report.consumers:
        lines += ["", f"{consumer.kind} {consumer.name}: total lag {consumer.total_lag}"]
        for row in consumer.partitions:
            done = "-" if row.committed is None else str(row.committed)
            lines.append(
                f"  {row.topic:<{width}} p{row.partition:<3} highwater {row.highwater:>9}"
                f"  committed {done:>9}  lag {row.lag:>9}"
            )
    if not report.consumers:
        lines += ["", "no consumer has committed yet"]
    if report.overview is not None:
        o = report.overview
        lines += [
            "",
            f"overview rollups: {o.pending_changes} visit changes pending"
            f" (oldest {o.oldest_s:.1f} s)",
        ]
    for group in report.groups:
        lines += ["", f"{group.kind} group {group.name}: generation {group.generation}"]
        lines += [f"  {m.member}: partitions {_ranges(m.partitions)}" for m in group.members]
    if report.derivation is not None:
        d = report.derivation
        shaped = ", ".join(f"{k}={v}" for k, v in sorted(d.settings.items()))
        cutover = " ".join(str(v) for _, v in sorted(d.cutover.items(), key=lambda kv: int(kv[0])))
        lines += [
            "",
            f"history re-derived: generation {d.generation} at {d.created_at} ({shaped});"
            f" raw cutover per partition: {cutover}",
        ]
    return "\n".join(lines)


def run_lag_command(settings: Settings, *, as_json: bool) -> str:
    """What ``mindhit lag`` prints: resolves Redis/PostgreSQL, collects, renders."""
    from mindhit.db import connect_async
    from mindhit.redis_client import connect_redis
    from mindhit.services import resolve_services

    services = resolve_services(settings)

    async def go() -> LagReport:
        client = connect_redis(services.redis_url)
        try:
            try:
                conn = await connect_async(services.database_url, autocommit=True)
            except Exception:  # PostgreSQL down: Redis lag is still worth showing
                conn = None
            try:
                return await collect_lag(client, settings.key_prefix, settings.partitions, conn)
            finally:
                if conn is not None:
                    await conn.close()
        finally:
            await client.aclose()

    try:
        report = asyncio.run(go())
    finally:
        services.stop()
    return msgspec.json.encode(report).decode() if as_json else render_text(report)
