"""Projector replicas as a group, with real processes on real Redis and PostgreSQL.

Two ``mindhit projector`` processes share the partitions; a kill -9 moves the dead
one's partitions to the other within the lease bound and they come back when it
starts again; a SIGSTOPped replica resumed after its lease expired is fenced; in
every case the read tables equal a clean, uninterrupted fold and the archive holds
every entry once.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.groups import GroupView, read_group
from mindhit.keys import PROJECTOR_GROUP, partition_lease_key
from mindhit.settings import Settings
from projector import fencing
from projector.archive import Archiver
from projector.consumer import ProjectionConsumer
from projector.overview_drainer import drain_all
from projector.synthetic import LogItem, synth_log, write_log
from tests.support.waiting import wait_until as _wait

from .conftest import clear_read_tables, fold_all, highwaters, snapshot
from .test_crash_resume import folded, projector_log, start_projector, wait_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PARTITIONS = 8
LEASE_MS = 2000


@pytest.fixture
def eight(settings: Settings) -> Settings:
    """The test's settings with 8 partitions (4 per replica)."""
    return msgspec.structs.replace(settings, partitions=PARTITIONS)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Projector processes of the test; any still running at the end is killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(timeout=10)


async def _view(client: aioredis.Redis, prefix: str) -> GroupView | None:
    return await read_group(client, prefix, PROJECTOR_GROUP, "projector")


async def _settled(
    client: aioredis.Redis, pg: psycopg.Connection[Any], prefix: str, size: int
) -> bool:
    """``size`` replicas share the partitions evenly, hold their leases and claimed them."""
    view = await _view(client, prefix)
    if view is None or len(view.members) != size or not view.assigned:
        return False
    shares = sorted(len(m.partitions) for m in view.members)
    if sum(shares) != PARTITIONS or shares[-1] - shares[0] > 1:
        return False
    owner = {p: m.member for m in view.members for p in m.partitions}
    for partition in range(PARTITIONS):
        holder = await client.hget(
            partition_lease_key(prefix, PROJECTOR_GROUP, partition), "lease.member"
        )
        if holder is None or holder.decode() != owner[partition]:
            return False
    claimed = dict(pg.execute("SELECT partition, holder FROM partition_fences").fetchall())
    pg.commit()
    return all(claimed.get(p) == owner[p] for p in range(PARTITIONS))


async def _wait_settled(
    client: aioredis.Redis,
    pg: psycopg.Connection[Any],
    prefix: str,
    size: int,
    what: str,
    procs: list[subprocess.Popen[bytes]],
) -> float:
    """Wait until ``size`` replicas settled; on a timeout say why: every replica's exit
    code and log, the group as stored, and what the database sessions were doing."""
    try:
        return await _wait(lambda: _settled(client, pg, prefix, size), what)
    except AssertionError as timeout:
        view = await _view(client, prefix)
        sessions = pg.execute(
            "SELECT pid, state, wait_event_type, wait_event, now() - xact_start, left(query, 120)"
            " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        pg.commit()
        logs = "\n".join(
            f"replica {i} (exit {proc.poll()}):\n{projector_log(proc)[-3000:]}"
            for i, proc in enumerate(procs)
        )
        said = "\n".join(map(str, sessions))
        raise AssertionError(f"{timeout}\ngroup: {view}\nsessions:\n{said}\n{logs}") from timeout


def _thirds(items: list[LogItem]) -> list[list[LogItem]]:
    third = len(items) // 3 + 1
    return [items[i : i + third] for i in range(0, len(items), third)]


async def _write_slowly(redis: aioredis.Redis, settings: Settings, items: list[LogItem]) -> None:
    """Append in small pieces, so folding goes on while replicas come and go."""
    for i in range(0, len(items), 40):
        await write_log(redis, settings, items[i : i + 40])
        await asyncio.sleep(0.02)


async def _check_exact(
    settings: Settings, redis: aioredis.Redis, pg: psycopg.Connection[Any], visits: int
) -> None:
    """Archive: every entry once; read tables: what a clean fold of the log gives."""
    dupes, entries = pg.execute(
        'SELECT count(*) - count(DISTINCT (topic, partition, "offset", part)),'
        ' count(DISTINCT (topic, partition, "offset")) FROM event_log'
    ).fetchone()  # type: ignore[misc]
    pg.commit()
    assert dupes == 0 and entries == sum((await highwaters(settings, redis)).values())
    drain_all(pg)  # what the replicas' drainers left pending
    folded = snapshot(pg)
    assert len(folded["page_visits"]) == visits
    clear_read_tables(pg)
    await fold_all(settings, redis, pg)
    assert snapshot(pg) == folded


async def test_two_replicas_share_partitions_and_a_killed_ones_move_and_come_back(
    eight: Settings,
    aredis: aioredis.Redis,
    pg: psycopg.Connection[Any],
    procs: list[subprocess.Popen[bytes]],
) -> None:
    items = list(synth_log(31, users=16, sessions_per_user=5, visits_per_session=20))
    first, second, third = _thirds(items)
    prefix = eight.key_prefix
    procs += [start_projector(eight, lease_ms=LEASE_MS) for _ in range(2)]
    await _wait_settled(aredis, pg, prefix, 2, "2 replicas with 4 partitions each", procs)
    view = await _view(aredis, prefix)
    assert view is not None and sorted(len(m.partitions) for m in view.members) == [4, 4]
    await _write_slowly(aredis, eight, first)
    await wait_caught_up(eight, aredis, pg)

    # kill -9 one replica while the log keeps growing: its partitions move to the other.
    writing = asyncio.create_task(_write_slowly(aredis, eight, second))
    procs[0].kill()
    procs[0].wait(timeout=10)
    moved_s = await _wait_settled(aredis, pg, prefix, 1, "the survivor holding all 8", procs)
    print(f"partitions moved {moved_s:.1f}s after the kill (lease {LEASE_MS / 1000:.0f}s)")
    assert moved_s < 2 * LEASE_MS / 1000 + 5  # bound: 2 x lease (+ scheduling slack under load)
    await writing
    await wait_caught_up(eight, aredis, pg)

    # Start it again: partitions come back while folding goes on.
    procs.append(start_projector(eight, lease_ms=LEASE_MS))
    writing = asyncio.create_task(_write_slowly(aredis, eight, third))
    await _wait_settled(aredis, pg, prefix, 2, "2 replicas again", procs)
    await writing
    await wait_caught_up(eight, aredis, pg)
    for proc in procs[1:]:
        proc.terminate()
        proc.wait(timeout=20)
        assert proc.returncode == 0, projector_log(proc)[-2000:]
    await _check_exact(eight, aredis, pg, 16 * 5 * 20)


@pytest.mark.cluster  # on Redis Cluster too: the projector's leases and group are keys there
async def test_a_paused_replica_resumed_after_its_lease_cannot_commit(
    eight: Settings,
    aredis: aioredis.Redis,
    pg: psycopg.Connection[Any],
    procs: list[subprocess.Popen[bytes]],
) -> None:
    items = list(synth_log(32, users=16, sessions_per_user=5, visits_per_session=20))
    first, second, third = _thirds(items)
    prefix = eight.key_prefix
    procs += [start_projector(eight, lease_ms=LEASE_MS, level="info") for _ in range(2)]
    await _wait_settled(aredis, pg, prefix, 2, "2 replicas with 4 partitions each", procs)
    zombie, other = procs

    # Pause one in the middle of folding; the other takes its partitions and claims them.
    writing = asyncio.create_task(_write_slowly(aredis, eight, first))
    await asyncio.sleep(0.5)
    zombie.send_signal(signal.SIGSTOP)
    await writing
    await _wait_settled(aredis, pg, prefix, 1, "the other replica holding all 8", procs)
    await _write_slowly(aredis, eight, second)
    await wait_caught_up(eight, aredis, pg)

    # Resume it: whatever it had read and folded before the pause is fenced, it rejoins.
    zombie.send_signal(signal.SIGCONT)
    await _write_slowly(aredis, eight, third)
    await _wait_settled(aredis, pg, prefix, 2, "2 replicas again", procs)
    await wait_caught_up(eight, aredis, pg)
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=20)
        assert proc.returncode == 0, projector_log(proc)[-2000:]
    told = projector_log(zombie)
    noticed = ("projector_leases_taken_over", "projector_commit_fenced")
    if "partition_claim_waited" in projector_log(other):  # its open commit was ended
        noticed += ("projector_connection_lost_restarting",)
    assert any(sign in told for sign in noticed), told[-3000:]
    assert "projector_commit_fenced" not in projector_log(other)
    await _check_exact(eight, aredis, pg, 16 * 5 * 20)


async def test_a_commit_after_another_replica_claimed_the_partition_is_fenced(
    eight: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """The fence itself, step by step: a replica that reads and folds a batch after
    another replica claimed one of its partitions writes nothing of it (folds, archive)."""
    items = list(synth_log(33, users=8, sessions_per_user=2, visits_per_session=5))
    await write_log(aredis, eight, items)
    raw = {s: o for s, o in (await highwaters(eight, aredis)).items() if ":raw" in s}
    lost = next(int(s.split("{p")[1].split("}")[0]) for s, o in raw.items() if o >= 3)
    with psycopg.connect(eight.database_url) as other:
        mine = fencing.claim(other, range(PARTITIONS), "zombie")
        consumer = ProjectionConsumer(eight, aredis, pg, entries_per_read=1)
        archiver = Archiver(eight, aredis, other, entries_per_read=1)
        for loop in (consumer, archiver):
            loop.own(mine)
            await loop.load()
            assert await loop.turn(block_ms=None) > 0  # still ours: it commits
        before = snapshot(pg), folded(pg), _archived(pg)
        fencing.claim(other, [lost], "new-owner")  # the partition moves on
        for loop in (consumer, archiver):
            with pytest.raises(fencing.Fenced) as fenced:
                await loop.turn(block_ms=None)  # its batch has an entry of every partition
            assert fenced.value.partitions == {lost}
        assert (snapshot(pg), folded(pg), _archived(pg)) == before


def _archived(pg: psycopg.Connection[Any]) -> int:
    row = pg.execute("SELECT count(*) FROM event_log").fetchone()
    pg.commit()
    return int(row[0]) if row else 0


async def test_lag_read_while_a_new_round_drops_partitions_reports_what_is_held(
    eight: Settings, aredis: aioredis.Redis, pg: psycopg.Connection[Any]
) -> None:
    """The lag gauges read a replica's positions while its folding round may change them:
    a round that drops partitions mid-read must not crash the replica (a KeyError there
    once ended the process and left the group one replica short)."""
    items = synth_log(34, users=8, sessions_per_user=2, visits_per_session=5)
    await write_log(aredis, eight, list(items))
    with psycopg.connect(eight.database_url) as other:
        tokens = fencing.claim(other, range(PARTITIONS), "replica")
        consumer = ProjectionConsumer(eight, aredis, pg)
        archiver = Archiver(eight, aredis, other)
        for loop in (consumer, archiver):
            loop.own(tokens)
            await loop.load()
        lag_read, archive_read = (
            asyncio.create_task(consumer.lag()),
            asyncio.create_task(archiver.lag()),
        )
        await asyncio.sleep(0)  # both wait on their first Redis round trip
        kept = {p: t for p, t in tokens.items() if p < PARTITIONS // 2}
        for loop in (consumer, archiver):
            loop.own(kept)  # the next round holds half the partitions
        lags, archived = await lag_read, await archive_read
        assert {partition for _, _, partition in lags} == set(range(PARTITIONS))
        assert {partition for _, partition in archived} == set(range(PARTITIONS))
        assert sum(lags.values()) > 0 and sum(archived.values()) > 0
        after = await consumer.lag(), await archiver.lag()
        assert {p for _, _, p in after[0]} == {p for _, p in after[1]} == set(kept)
