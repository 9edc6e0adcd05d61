"""Scripted browsing: a session script, backlogs of them on the raw topic, and what workers emit.

:class:`Script` drives a test :class:`Browser` like a person (reading, SPA navigation,
idle, media, closed tabs) and records the visits its actions must produce. Crash and
start-up tests append many users' scripted sessions as the gateway would, let
real ``mindhit processors`` workers fold them, and compare what the workers emitted with
what one clean fold of the same events gives. Both halves live here so every such test
builds its backlog and reads its results the same way.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from mindhit import streams
from mindhit.corpus import load_pages
from mindhit.visit_rows import as_columns
from processors.dwell import fold
from processors.urls import normalize_url
from schema.derived import SessionClosed, VisitClosed, VisitRows, VisitsClosed
from schema.ids import uuid7
from schema.log import RawEntry, Upload, decode_derived_entry, encode_raw_entry
from schema.topics import RAW_TOPIC, partition_for, stream_key
from schema.visits import closed_visits
from tests.unit.processors.browsing import Browser


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


UPLOAD_EVENTS = 40
"""Events per appended upload (one raw entry each)."""


@dataclass
class Backlog:
    """What a clean fold of an appended backlog emits: visits and closed sessions by id."""

    visits: dict[str, VisitClosed] = field(default_factory=dict)
    sessions: dict[str, SessionClosed] = field(default_factory=dict)


async def append_scripted_backlog(
    client: Any, prefix: str, partitions: int, users: int, steps: int
) -> Backlog:
    """Append ``users`` scripted sessions of ``steps`` actions each to the raw topic (user
    ``user-N`` on its partition, uploads of :data:`UPLOAD_EVENTS` events); return what a
    clean fold of them gives."""
    expected = Backlog()
    for u in range(users):
        user = f"user-{u}"
        b = Browser(f"client-{u}", uuid7(), ts=1_790_000_000_000 + u)
        Script(b, seed=u).run(steps)
        b.stop()
        _, result = fold(None, user, b.events)
        for d in result.derived:
            if isinstance(d, VisitClosed):
                expected.visits[d.visit_id] = d
            elif isinstance(d, SessionClosed):
                expected.sessions[d.session_id] = d
        key = stream_key(prefix, RAW_TOPIC, partition_for(user, partitions))
        for start in range(0, len(b.events), UPLOAD_EVENTS):
            upload = Upload(
                batch_id=uuid7(),
                user_id=user,
                client_id=b.client_id,
                received_at=0,
                events=b.events[start : start + UPLOAD_EVENTS],
            )
            value = encode_raw_entry(RawEntry(uploads=[upload]))
            await streams.append(client, key, value, key=user.encode(), timestamp_ms=0)
    assert len(expected.sessions) == users
    return expected


async def derived_events(
    client: aioredis.Redis, prefix: str, partitions: int, topic: str
) -> list[Any]:
    """Every derived event on ``topic``, partition by partition, in stream order; closed
    visits one per event (the processors write them as COPY rows, :class:`VisitRows`, or
    as columns, :class:`VisitsClosed`)."""
    found: list[Any] = []
    for partition in range(partitions):
        for _id, fields in await client.xrange(stream_key(prefix, topic, partition)):
            for event in decode_derived_entry(fields[b"v"]).events:
                if isinstance(event, VisitRows):
                    found.extend(closed_visits(as_columns(event)))
                elif isinstance(event, VisitsClosed):
                    found.extend(closed_visits(event))
                else:
                    found.append(event)
    return found
