"""Real ``mindhit`` processes started while their Redis Cluster URL's node is down.

A worker's start-up talks to Redis at every step (Faust declares its topics, the worker
joins its group, takes its partitions' leases, reads their committed offsets and
recovers its tables); any of them failing used to end the process. Two ways to start
while the URL's node is gone, on a private cluster of three masters with a replica each:

* the URL lists every master as a seed (``redis+cluster://h:p1,h:p2,h:p3/0``) and the
  first one is killed (``kill -9``) as the Faust worker starts, so its start-up meets
  the failover (3 s node timeout; the topic catalog and a partition live on that master);
* the URL names only that node, already dead and replaced: the worker waits (logs
  ``redis_unreachable_retrying``, ``/readyz`` 503, ``/healthz`` 200; the gateway's and
  the projector's ``/readyz`` 503 too, the projector logging
  ``projector_connection_lost_restarting``) until the node is back, as a replica, and
  then finds the cluster; all three become ready.

Either way the worker comes up and folds the whole backlog: every visit and closed
session equals what a clean fold of the same events gives.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec
import pytest
from redis.crc import key_slot

from mindhit.keys import topics_key
from mindhit.redis_client import UNREACHABLE, connect_redis
from mindhit.settings import Settings
from schema.derived import SessionClosed, VisitClosed
from schema.topics import SESSIONS_TOPIC, VISITS_TOPIC
from tests.e2e.pipeline import forget_old_log
from tests.integration.processors.test_worker_through_gateway import service
from tests.support.processes import LoggedProcess, mindhit_env
from tests.support.redis_cluster import PrivateRedisCluster
from tests.support.scripted import Backlog, append_scripted_backlog, derived_events
from tests.support.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

USERS = 12
PARTITIONS = 4


def _prefix_on(cluster: PrivateRedisCluster, port: int) -> str:
    """A fresh key prefix whose topic catalog lives on the master on ``port``."""
    while True:
        prefix = f"mhstart-{uuid.uuid4().hex[:8]}"
        if cluster.owner(key_slot(topics_key(prefix).encode())) == port:
            return prefix


async def _backlog(url: str, prefix: str) -> Backlog:
    """Append scripted sessions of :data:`USERS` users to the raw topic, as the gateway
    would; return what a clean fold of them gives."""
    client = connect_redis(url)
    try:
        return await append_scripted_backlog(client, prefix, PARTITIONS, USERS, 120)
    finally:
        await client.aclose()


async def _derived(url: str, prefix: str, topic: str) -> list[object]:
    """The derived events of ``topic`` (read again while the cluster is failing over)."""
    while True:
        client = connect_redis(url)
        try:
            return await derived_events(client, prefix, PARTITIONS, topic)
        except UNREACHABLE:
            await asyncio.sleep(0.2)
        finally:
            await client.aclose()


async def _folded_everything(
    url: str, prefix: str, worker: LoggedProcess, sessions: set[str], timeout: float
) -> list[VisitClosed]:
    """Wait until the worker closed every session; return the visits it emitted."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        assert worker.alive(), worker.tail()
        closed = {
            s.session_id
            for s in await _derived(url, prefix, SESSIONS_TOPIC)
            if isinstance(s, SessionClosed)
        }
        if closed >= sessions:
            break
        assert asyncio.get_running_loop().time() < deadline, worker.tail()
        await asyncio.sleep(0.2)
    return [v for v in await _derived(url, prefix, VISITS_TOPIC) if isinstance(v, VisitClosed)]


def _env(settings: Settings, url: str, prefix: str, tmp_path: Path) -> dict[str, str]:
    return mindhit_env(
        msgspec.structs.replace(settings, redis_url=url, key_prefix=prefix, partitions=PARTITIONS),
        MINDHIT_COMMIT_INTERVAL_S="0.5",
        MINDHIT_DATA_DIR=str(tmp_path / "data"),
        MINDHIT_AI_PROVIDER="local",
    )


@pytest.mark.timeout(150)
async def test_a_worker_started_during_the_failover_of_the_url_node_comes_up(
    own_cluster: Callable[..., PrivateRedisCluster], settings: Settings, tmp_path: Path
) -> None:
    """Seeds in the URL, and every start-up step waits out the dead master."""
    cluster = own_cluster(replicas=1, node_timeout_ms=3000)
    dead = cluster.ports[0]
    prefix = _prefix_on(cluster, dead)
    assert dead in {cluster.owner(key_slot(f"{{p{n}}}".encode())) for n in range(PARTITIONS)}
    backlog = await _backlog(cluster.seed_url, prefix)
    visits, sessions = backlog.visits, set(backlog.sessions)
    cluster.wait_replicated(dead)  # the failover must not lose the backlog (async replication)

    env = _env(settings, cluster.seed_url, prefix, tmp_path)
    worker = service(["processors", "--port", str(free_port())], env, tmp_path / "worker.log")
    try:
        while "[^Worker]: Starting..." not in worker.log.read_text():  # imports done
            assert worker.alive(), worker.tail()
            await asyncio.sleep(0.02)
        cluster.kill(dead)  # the replica takes over ~3-4 s later, while the worker starts
        emitted = await _folded_everything(cluster.seed_url, prefix, worker, sessions, 90)
        log = worker.log.read_text()
    finally:
        worker.stop()
    assert "redis_unreachable_retrying" in log, "the start-up must have met the failover"
    assert {v.visit_id: v for v in emitted} == visits
    assert all(visits[v.visit_id] == v for v in emitted)  # a redelivered copy is identical


@pytest.mark.timeout(150)
async def test_a_worker_started_while_the_url_only_node_is_down_waits_for_it(
    own_cluster: Callable[..., PrivateRedisCluster], settings: Settings, tmp_path: Path
) -> None:
    """No seeds: nothing to find the cluster through until the node is back. The worker,
    the gateway and the projector stay up, unready, and say why; then the worker folds
    everything."""
    cluster = own_cluster(replicas=1, node_timeout_ms=1000)
    dead = cluster.ports[0]
    prefix = _prefix_on(cluster, dead)
    backlog = await _backlog(cluster.seed_url, prefix)
    visits, sessions = backlog.visits, set(backlog.sessions)
    cluster.wait_replicated(dead)  # else the replica may take over without the backlog
    cluster.kill(dead)
    cluster.wait_failover(dead)

    env = _env(settings, cluster.url, prefix, tmp_path)  # cluster.url names the dead node only
    forget_old_log(settings.database_url)  # else the projector finds an earlier test's log lost
    health, gateway_port, projector_port = free_port(), free_port(), free_port()
    worker = service(["processors", "--port", str(health)], env, tmp_path / "worker.log")
    gateway = service(
        ["gateway", "--port", str(gateway_port)],
        {**env, "MINDHIT_GATEWAY_METRICS_PORT": "0"},
        tmp_path / "gateway.log",
    )
    projector = service(
        ["projector"],
        {**env, "MINDHIT_PROJECTOR_PORT": str(projector_port)},
        tmp_path / "projector.log",
    )
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            worker_ready = f"http://127.0.0.1:{health}/readyz"
            gateway_ready = f"http://127.0.0.1:{gateway_port}/readyz"
            projector_ready = f"http://127.0.0.1:{projector_port}/readyz"
            deadline = asyncio.get_running_loop().time() + 60
            while "redis_unreachable_retrying" not in worker.log.read_text():
                assert worker.alive(), worker.tail()
                assert asyncio.get_running_loop().time() < deadline, worker.tail()
                await asyncio.sleep(0.2)
            await asyncio.sleep(3)  # several attempts: still waiting, not exited
            assert worker.alive(), worker.tail()
            assert (await http.get(f"http://127.0.0.1:{health}/healthz")).status_code == 200
            assert (await http.get(worker_ready)).status_code == 503
            assert (await http.get(gateway_ready)).status_code == 503, gateway.tail()
            assert projector.alive(), projector.tail()
            projector_health = f"http://127.0.0.1:{projector_port}/healthz"
            assert (await http.get(projector_health)).status_code == 200
            assert (await http.get(projector_ready)).status_code == 503, projector.tail()
            assert "projector_connection_lost_restarting" in projector.log.read_text()
            assert await _derived(cluster.seed_url, prefix, VISITS_TOPIC) == []

            cluster.restart(dead)  # back as its replica's replica: it knows the cluster
            emitted = await _folded_everything(cluster.seed_url, prefix, worker, sessions, 90)
            assert (await http.get(worker_ready)).status_code == 200
            deadline = asyncio.get_running_loop().time() + 30
            for ready, process in ((gateway_ready, gateway), (projector_ready, projector)):
                while (await http.get(ready)).status_code != 200:
                    assert asyncio.get_running_loop().time() < deadline, process.tail()
                    await asyncio.sleep(0.2)
    finally:
        worker.stop()
        gateway.stop()
        projector.stop()
    assert {v.visit_id: v for v in emitted} == visits
    assert all(visits[v.visit_id] == v for v in emitted)
