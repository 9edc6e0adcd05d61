"""A Redis that lost its data must not look like an idle one (issue 13, item 2).

The whole pipeline runs as real processes (gateway, processors, projector). After a
first session is projected and archived, every key of the test's prefix is deleted:
what a Redis restart without persistence does (only this test's keys: the shared
Redis is never flushed). Then the projector must stop loudly (``/readyz`` 503 with
the epoch reason, ``mindhit lag --json`` listing the problem), uploads acknowledged
meanwhile must survive, and ``mindhit recover --reseed`` (or ``--reset --yes``, which
refuses without ``--yes``) must bring everything back: both sessions' visits projected
exactly as the scripts imply, none twice.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit.accounts import create_token, create_user
from mindhit.settings import Settings
from schema.api import EventBatch
from schema.ids import uuid7
from tests.support.processes import LoggedProcess, mindhit_env, run_mindhit
from tests.support.scripted import Script
from tests.support.servers import free_port
from tests.unit.processors.browsing import Browser

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]

DEADLINE_S = 120.0


class Stack:
    """Gateway, processors and projector of one test, as child processes."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.env = mindhit_env(
            settings,
            MINDHIT_DATA_DIR=str(tmp_path / "data"),
            MINDHIT_AI_PROVIDER="local",
            MINDHIT_PROJECTOR_PORT=str(free_port()),
        )
        self.tmp = tmp_path
        self.gateway_url = f"http://127.0.0.1:{free_port()}"
        self.projector_url = f"http://127.0.0.1:{self.env['MINDHIT_PROJECTOR_PORT']}"
        self.procs: dict[str, LoggedProcess] = {}
        self.start("gateway", ["gateway", "--port", self.gateway_url.rsplit(":", 1)[1]])
        self.start("projector", ["projector"])
        self.processors_url = ""
        self.start_processors()

    def start_processors(self) -> None:
        port = free_port()
        self.processors_url = f"http://127.0.0.1:{port}"
        self.start("processors", ["processors", "--port", str(port)])

    def start(self, name: str, args: list[str]) -> None:
        self.procs[name] = LoggedProcess("mindhit.cli", args, self.env, self.tmp / f"{name}.log")

    def stop(self, name: str) -> None:
        self.procs.pop(name).stop()

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            assert proc.alive(), f"{name} died:\n{proc.tail()}"


@pytest.fixture
def stack(settings: Settings, tmp_path: Path, pg: psycopg.Connection[Any]) -> Iterator[Stack]:
    running = Stack(settings, tmp_path)
    try:
        yield running
    finally:
        for name in list(running.procs):
            running.stop(name)


async def _until(stack: Stack, what: str, check: Any) -> Any:
    """Poll ``check()`` until it returns something truthy (generous deadline)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        stack.check_alive()
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.25)
    logs = "\n".join(f"--- {n}\n{p.tail(15)}" for n, p in stack.procs.items())
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


async def _browse(http: httpx.AsyncClient, seed: int) -> tuple[str, list[tuple[str, int, int]]]:
    """One recorded session through the gateway; its id and the visits it implies."""
    created = (await http.post("/v1/sessions", json={"label": f"s{seed}"})).json()
    browser = Browser(f"laptop-{seed}", created["session_id"], ts=created["started_at"] + 1_000)
    script = Script(browser, seed=seed)
    script.run(60)
    for start in range(0, len(browser.events), 40):
        batch = EventBatch(
            batch_id=uuid7(), client_id=f"laptop-{seed}", events=browser.events[start : start + 40]
        )
        reply = await http.post("/v1/events", content=msgspec.json.encode(batch))
        assert reply.status_code == 202, reply.text
    stopped = await http.post(f"/v1/sessions/{created['session_id']}/stop")
    assert stopped.status_code == 202, stopped.text
    return created["session_id"], sorted(script.expected)


async def _visits(apg: psycopg.AsyncConnection[Any], session_id: str) -> list[tuple[str, int, int]]:
    cur = await apg.execute(
        "SELECT url, (extract(epoch FROM start_at) * 1000)::bigint, dwell_ms FROM page_visits"
        " WHERE session_id = %s ORDER BY url, start_at",
        (session_id,),
    )
    return sorted((u, int(s), int(d)) for u, s, d in await cur.fetchall())


async def _archived(apg: psycopg.AsyncConnection[Any], aredis: aioredis.Redis, prefix: str) -> bool:
    """Whether the archiver's checkpoints reached every stream's highwater."""
    cur = await apg.execute(
        "SELECT topic, partition, next_offset FROM projection_checkpoints"
        " WHERE projection = 'archiver'"
    )
    rows = await cur.fetchall()
    for topic, partition, offset in rows:
        info: Any = await aredis.xinfo_stream(f"{prefix}:{{p{partition}}}:{topic}")
        if int(info["last-generated-id"].split(b"-")[1]) != offset:
            return False
    return bool(rows)


async def _mapped(apg: psycopg.AsyncConnection[Any], session_id: str) -> bool:
    """Whether the session was stopped, completed and has its mind map (its stop projected)."""
    cur = await apg.execute(
        "SELECT s.status, s.stopped_at IS NOT NULL, m.session_id IS NOT NULL FROM sessions s"
        " LEFT JOIN mindmap_graphs m USING (session_id) WHERE s.session_id = %s",
        (session_id,),
    )
    return await cur.fetchone() == ("completed", True, True)


def _lag(settings: Settings) -> dict[str, Any]:
    result = run_mindhit(settings, "lag", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("how", [["--reseed"], ["--reset", "--yes"]], ids=["reseed", "reset"])
async def test_flushed_redis_stops_loudly_and_recover_brings_it_back_without_loss(
    how: list[str],
    stack: Stack,
    settings: Settings,
    aredis: aioredis.Redis,
    apg: psycopg.AsyncConnection[Any],
) -> None:
    user = await create_user(apg, f"{uuid7()}@example.com")
    _, token = await create_token(apg, user.user_id, "laptop")
    auth = {"Authorization": f"Bearer {token}"}
    ready = stack.projector_url + "/readyz"
    async with (
        httpx.AsyncClient(base_url=stack.gateway_url, headers=auth, timeout=30) as http,
        httpx.AsyncClient(timeout=5) as probe,
    ):

        async def up() -> bool:
            try:
                return (await http.get("/healthz")).status_code == 200
            except httpx.TransportError:
                return False

        await _until(stack, "the gateway", up)
        first, first_expected = await _browse(http, seed=1)

        async def first_projected() -> bool:
            return await _visits(apg, first) == first_expected and await _archived(
                apg, aredis, settings.key_prefix
            )

        await _until(stack, "the first session projected and archived", first_projected)
        if "--reset" in how:  # (b) keeps no processors' work in flight: let it finish
            await _until(stack, "the first map", lambda: _mapped(apg, first))
        assert (await probe.get(ready)).status_code == 200

        # Redis restarts without persistence: every key of this test's prefix is gone.
        keys = [k async for k in aredis.scan_iter(match=f"{settings.key_prefix}:*")]
        await aredis.delete(*keys)

        async def not_ready() -> str | None:
            # A check that read the epochs just before the keys went and the highwaters
            # just after sees only streams behind their checkpoints; the next check (1 s)
            # names the lost epochs, which come first in the reason.
            answer = await probe.get(ready)
            return answer.text if answer.status_code == 503 and "epoch" in answer.text else None

        reason = await _until(stack, "readiness to fail", not_ready)
        assert "log lost" in reason and "epoch" in reason and "mindhit recover" in reason
        report = _lag(settings)
        assert report["problems"], report
        assert {p["kind"] for p in report["problems"]} <= {
            "epoch_missing",
            "epoch_changed",
            "behind",
        }
        assert all("Redis lost" in p["reason"] for p in report["problems"])

        async def processors_stand_still() -> str | None:
            # the running worker found the loss too: it reads and commits nothing
            answer = await probe.get(stack.processors_url + "/readyz")
            return answer.text if answer.status_code == 503 and "log lost" in answer.text else None

        assert "mindhit recover" in await _until(
            stack, "processors standing still", processors_stand_still
        )

        # Uploads go on meanwhile: acknowledged into the new log, kept by recovery.
        second, second_expected = await _browse(http, seed=2)
        await asyncio.sleep(3)
        assert (await probe.get(ready)).status_code == 503  # still stopped, not "caught up"
        assert await _visits(apg, second) == []

        stack.stop("processors")
        dry = run_mindhit(settings, "recover")
        assert dry.returncode == 1 and "--reseed" in dry.stdout, dry.stdout + dry.stderr
        if "--reset" in how:
            unconfirmed = run_mindhit(settings, "recover", "--reset")
            assert unconfirmed.returncode == 1 and "--yes" in unconfirmed.stdout
        done = run_mindhit(settings, "recover", *how)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "lost window 0 entries" in done.stdout, done.stdout
        stack.start_processors()

        async def ready_again() -> bool:
            return (await probe.get(ready)).status_code == 200

        await _until(stack, "readiness after recovery", ready_again)
        assert _lag(settings)["problems"] == []

        async def both_projected() -> bool:
            return await _visits(apg, second) == second_expected and await _mapped(apg, second)

        await _until(stack, "the second session projected", both_projected)
        await _until(
            stack, "the archive caught up", lambda: _archived(apg, aredis, settings.key_prefix)
        )
        assert await _visits(apg, first) == first_expected
        cur = await apg.execute(
            "SELECT count(*), count(DISTINCT (session_id, url, start_at)) FROM page_visits"
            " WHERE user_id = %s",
            (user.user_id,),
        )
        total, distinct = await cur.fetchone()  # type: ignore[misc]
        assert total == distinct == len(first_expected) + len(second_expected)
        await _until(stack, "the first session's map rebuilt", lambda: _mapped(apg, first))
