"""The whole path: extension-shaped uploads → real gateway → Redis → Faust worker → derived topics.

A scripted browsing session of ~300 transitions over corpus pages (tab switches,
SPA navigation, title changes, blur, idle, media while idle, closed tabs) is
uploaded through ``mindhit gateway``; a ``mindhit processors`` worker (the real
Faust app on the Redis Streams transport, offline AI provider) must produce exactly
the visits the script implies, with exact dwell, one enrichment per distinct page,
and one mind map.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.accounts import create_token, create_user
from mindhit.settings import Settings
from processors.urls import url_hash
from schema.api import EventBatch
from schema.derived import MindmapBuilt, SessionStatusChanged, UrlEnriched, VisitClosed
from schema.ids import uuid7
from schema.log import decode_derived_entry
from schema.topics import SESSIONS_TOPIC, URLS_TOPIC, VISITS_TOPIC, stream_key
from tests.support.processes import LoggedProcess, mindhit_env
from tests.support.scripted import Script, derived_events
from tests.support.servers import free_port
from tests.unit.processors.browsing import Browser

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def service(args: list[str], env: dict[str, str], log: Path) -> LoggedProcess:
    """A ``mindhit <command>`` subprocess with its log kept for post-mortems."""
    return LoggedProcess("mindhit.cli", args, env, log)


@pytest.fixture
def stack(settings: Settings, tmp_path: Path) -> Iterator[dict[str, Any]]:
    env = mindhit_env(
        settings, MINDHIT_DATA_DIR=str(tmp_path / "data"), MINDHIT_AI_PROVIDER="local"
    )
    gateway_port, metrics_port = free_port(), free_port()
    gateway = service(["gateway", "--port", str(gateway_port)], env, tmp_path / "gateway.log")
    worker = service(["processors", "--port", str(metrics_port)], env, tmp_path / "worker.log")
    try:
        yield {
            "gateway": f"http://127.0.0.1:{gateway_port}",
            "metrics": f"http://127.0.0.1:{metrics_port}/metrics",
            "services": (gateway, worker),
        }
    finally:
        worker.stop()
        gateway.stop()


async def _wait_up(url: str, services: tuple[LoggedProcess, ...]) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            for service in services:
                assert service.proc.poll() is None, service.tail()
            try:
                if (await http.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{url} never came up")


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.timeout(180)
async def test_scripted_session_yields_exact_visits_one_enrichment_per_page_and_one_map(
    stack: dict[str, Any],
    settings: Settings,
    aredis: aioredis.Redis,
    apg: psycopg.AsyncConnection[Any],
) -> None:
    user = await create_user(apg, f"{uuid7()}@example.com")
    _, token = await create_token(apg, user.user_id, "laptop")
    auth = {"Authorization": f"Bearer {token}"}
    derived = partial(derived_events, aredis, settings.key_prefix, settings.partitions)
    await _wait_up(stack["gateway"] + "/healthz", stack["services"])
    await _wait_up(stack["metrics"], stack["services"])

    async with httpx.AsyncClient(base_url=stack["gateway"], headers=auth, timeout=30) as http:
        created = (await http.post("/v1/sessions", json={"label": "research"})).json()
        session_id = created["session_id"]
        browser = Browser("laptop-1", session_id, ts=created["started_at"] + 1_000)
        script = Script(browser, seed=20261126)
        script.run(300)
        events = browser.events
        for start in range(0, len(events), 150):
            batch = EventBatch(
                batch_id=uuid7(), client_id="laptop-1", events=events[start : start + 150]
            )
            reply = await http.post(
                "/v1/events",
                content=msgspec.json.encode(batch),
                headers={"Content-Type": "application/json"},
            )
            assert reply.status_code == 202, reply.text
            assert reply.json()["rejected"] == [], reply.text
        # Uploading the first batch again (a client retry) must change nothing.
        again = EventBatch(batch_id=uuid7(), client_id="laptop-1", events=events[:150])
        assert (
            await http.post("/v1/events", content=msgspec.json.encode(again))
        ).status_code == 202
        assert (await http.post(f"/v1/sessions/{session_id}/stop")).status_code == 202

    assert 300 <= script.transitions < 320
    built: list[MindmapBuilt] = []
    for _ in range(600):
        sessions = await derived(SESSIONS_TOPIC)
        built = [s for s in sessions if isinstance(s, MindmapBuilt)]
        if built:
            break
        for service in stack["services"]:
            assert service.proc.poll() is None, service.tail()
        await asyncio.sleep(0.1)
    assert len(built) == 1, stack["services"][1].tail()
    assert built[0].session_id == session_id and built[0].provider == "local"
    statuses = [s.status for s in sessions if isinstance(s, SessionStatusChanged)]
    assert statuses[-2:] == ["processing", "completed"]

    visits = [v for v in await derived(VISITS_TOPIC) if isinstance(v, VisitClosed)]
    got = sorted((v.url, v.start_ts, v.dwell_ms) for v in visits)
    assert got == sorted(script.expected)
    assert len({v.visit_id for v in visits}) == len(visits)
    assert all(v.user_id == user.user_id and v.session_id == session_id for v in visits)

    async with httpx.AsyncClient() as http:
        for _ in range(100):
            enriched = [u for u in await derived(URLS_TOPIC) if isinstance(u, UrlEnriched)]
            if len(enriched) >= len(script.read_urls):
                break
            await asyncio.sleep(0.1)
        # Read once every enrichment is out (each call is counted before its emit).
        metrics = (await http.get(stack["metrics"])).text
    assert sorted(e.url_hash for e in enriched) == sorted(url_hash(u) for u in script.read_urls)
    assert len(enriched) == len(script.read_urls)
    calls = _metric(metrics, 'mindhit_processors_ai_calls_total{kind="enrich",outcome="ok"}')
    assert calls == len(script.read_urls)
    leaves: set[str] = set()
    stack_nodes = [built[0].root]
    while stack_nodes:
        node = stack_nodes.pop()
        if node.url:
            leaves.add(node.url)
        stack_nodes.extend(node.children)
    assert leaves == {v.url for v in visits}
    assert _metric(metrics, "mindhit_processors_duplicate_events_total") == 150
    # Every derived entry names the raw entry it came from (what a rederive supersedes).
    for partition in range(settings.partitions):
        raw = await streams.highwater(aredis, stream_key(settings.key_prefix, "raw", partition))
        for topic in (VISITS_TOPIC, URLS_TOPIC, SESSIONS_TOPIC):
            key = stream_key(settings.key_prefix, topic, partition)
            origins = [decode_derived_entry(f[b"v"]).origin for _, f in await aredis.xrange(key)]
            assert all(0 <= origin < raw for origin in origins), (topic, origins, raw)
