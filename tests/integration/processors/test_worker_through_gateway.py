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
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
import pytest
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.accounts import create_token, create_user
from mindhit.corpus import load_pages
from mindhit.settings import Settings
from processors.urls import normalize_url, url_hash
from schema.api import EventBatch
from schema.derived import MindmapBuilt, SessionStatusChanged, UrlEnriched, VisitClosed
from schema.ids import uuid7
from schema.log import decode_derived_entry
from schema.topics import SESSIONS_TOPIC, URLS_TOPIC, VISITS_TOPIC, stream_key
from tests.support.processes import LoggedProcess, mindhit_env
from tests.support.servers import free_port
from tests.unit.processors.browsing import Browser

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


class Script:
    """Drives a :class:`Browser` and records the visits its actions must produce."""

    def __init__(self, browser: Browser, seed: int) -> None:
        self.b = browser
        self.rng = random.Random(seed)
        self.pages = load_pages()[:18]
        self.tabs: dict[int, str] = {}
        self.sent_content: set[tuple[int, str]] = set()
        self.tab = 0
        self.next_tab = 100
        self.open: tuple[str, int] | None = None
        self.expected: list[tuple[str, int, int]] = []
        self.read_urls: set[str] = set()

    def _close(self) -> None:
        if self.open is not None and self.b.ts > self.open[1]:
            self.expected.append(
                (normalize_url(self.open[0]), self.open[1], self.b.ts - self.open[1])
            )
        self.open = None

    def _open(self) -> None:
        self.open = (self.tabs[self.tab], self.b.ts)

    def _wait(self) -> None:
        self.b.wait(self.rng.randint(1_000, 90_000))

    def read(self) -> None:
        page = self.rng.choice(self.pages)
        url = page.url + ("?utm_source=newsletter" if self.rng.random() < 0.2 else "")
        if self.tabs.get(self.tab) == url:
            return  # already reading it: activating it again is no transition
        reuse = [t for t, u in self.tabs.items() if u == url]
        if reuse:
            tab = reuse[0]
        else:
            self.next_tab += 1
            tab = self.next_tab
        self._close()
        self.tab = tab
        self.tabs[tab] = url
        self.b.activate(tab, url, title=page.title)
        self._open()
        if (tab, url) not in self.sent_content:
            self.sent_content.add((tab, url))
            self.b.content(tab, url, page.text, title=page.title)
            self.read_urls.add(normalize_url(page.url))
        self._wait()

    def spa(self) -> None:
        url = normalize_url(self.tabs[self.tab]).rstrip("/") + f"/part-{self.rng.randint(1, 4)}"
        if url == self.tabs[self.tab]:
            return
        self._close()
        self.tabs[self.tab] = url
        self.b.navigate(self.tab, url, change="history")
        self._open()
        self._wait()

    def retitle(self) -> None:
        self.b.navigate(self.tab, self.tabs[self.tab], title="(1) new message", change="title")
        self._wait()

    def away(self) -> None:
        self._close()
        self.b.blur()
        self._wait()
        self.b.focus(1)
        self._open()
        self._wait()

    def idle(self) -> None:
        self._close()
        self.b.idle("idle" if self.rng.random() < 0.7 else "locked")
        self._wait()
        self.b.idle("active")
        self._open()
        self._wait()

    def watch(self) -> None:  # media keeps the visit open through idle: no split
        self.b.media(self.tab, True)
        self._wait()
        self.b.idle("idle")
        self._wait()
        self.b.idle("active")
        self._wait()
        self.b.media(self.tab, False)
        self._wait()

    def close_tab(self) -> None:
        self._close()
        self.b.close(self.tab)
        del self.tabs[self.tab]
        self.b.wait(500)
        if self.tabs:
            self.tab = sorted(self.tabs)[0]
            self.b.activate(self.tab, self.tabs[self.tab])
            self._open()
            self._wait()
        else:
            self.read()

    def run(self, transitions: int) -> None:
        self.b.focus(1)
        self.read()
        actions = [self.read] * 6 + [self.spa, self.retitle, self.away, self.idle, self.watch]
        actions.append(self.close_tab)
        while self.transitions < transitions:
            self.rng.choice(actions)()
        self._close()
        self.b.blur()

    @property
    def transitions(self) -> int:
        return sum(1 for e in self.b.events if type(e).__name__ != "PageContent")


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


async def _derived(client: aioredis.Redis, settings: Settings, topic: str) -> list[Any]:
    found: list[Any] = []
    for partition in range(settings.partitions):
        for _id, fields in await client.xrange(stream_key(settings.key_prefix, topic, partition)):
            found.extend(decode_derived_entry(fields[b"v"]).events)
    return found


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
        sessions = await _derived(aredis, settings, SESSIONS_TOPIC)
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

    visits = [
        v for v in await _derived(aredis, settings, VISITS_TOPIC) if isinstance(v, VisitClosed)
    ]
    got = sorted((v.url, v.start_ts, v.dwell_ms) for v in visits)
    assert got == sorted(script.expected)
    assert len({v.visit_id for v in visits}) == len(visits)
    assert all(v.user_id == user.user_id and v.session_id == session_id for v in visits)

    async with httpx.AsyncClient() as http:
        for _ in range(100):
            enriched = [
                u
                for u in await _derived(aredis, settings, URLS_TOPIC)
                if isinstance(u, UrlEnriched)
            ]
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
