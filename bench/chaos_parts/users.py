"""Simulated users for the chaos soak: browsing timelines through the real gateway.

Each :class:`SimUser` is one person with one extension install. Its recorder
browses in real time (tab switches, URL changes, SPA navigation, title changes,
other windows, blur, idle, locked screens, media, closed tabs, non-page tabs, page
content) in sessions it starts and stops with ``session.started`` /
``session.stopped`` events, as the extension does; about a tenth of sessions are
stopped from the server side instead (``POST /v1/sessions/{id}/stop``, as the
dashboard does), half of them while the extension still holds events of the session
(uploaded after the stop: late). Some events carry
a timestamp a little before the previous one (listeners racing inside one batch
window: the fold clamps client time).

Its uploader sends the queue like the extension: one upload at a time, retried
with the same ``batch_id`` until the gateway answers 2xx (connection refused,
reset or 5xx while a component restarts), sometimes sent twice (a retry after a
lost answer: same ``batch_id``), sometimes a batch's events sent again under a new
``batch_id`` (a queue re-sent after a reinstall), sometimes an older batch re-sent
after a newer one was acknowledged (a late retry arriving out of order).

Only what the gateway acknowledged enters :attr:`SimUser.acked` — the events in
the order the log holds them (one request of a user at a time), which is all the
oracle folds. Server stops whose first attempt got no answer are remembered
(:attr:`SimUser.stop_attempts`) so the oracle can tell which stop the log holds.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import httpx
import msgspec

from mindhit.corpus import CorpusPage as Page
from schema.api import EventBatch
from schema.events import ClientEvent, SessionStarted, SessionStopped
from schema.ids import uuid7
from tests.unit.processors.browsing import Browser

__all__ = ["Counters", "ServerStop", "SimUser", "now_ms"]

MAX_UPLOAD = 200
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def now_ms() -> int:
    """Wall-clock milliseconds (the client's clock: the same machine as the gateway)."""
    return time.time_ns() // 1_000_000


@dataclass
class Counters:
    """What the users did and what the gateway answered, over every user."""

    uploads: int = 0
    retries: int = 0
    resent_same_id: int = 0
    resent_new_id: int = 0
    resent_late: int = 0
    duplicates_answered: int = 0
    refused: int = 0
    rejected_events: int = 0
    sessions: int = 0
    server_stops: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    refusals: list[str] = field(default_factory=list)

    def refused_by(self, path: str, answer: httpx.Response) -> None:
        """Count an answer that is neither success nor worth a retry, and keep what it said."""
        self.refused += 1
        self.refusals.append(f"POST {path} -> {answer.status_code} {answer.text[:300]}")


@dataclass
class ServerStop:
    """One ``POST …/stop``: its acknowledged stop time and the windows of unanswered attempts."""

    session_id: str
    stopped_at: int
    seq: int
    unanswered: list[tuple[int, int]]


class SimUser:
    """One simulated person: a recorder and an uploader sharing the extension's queue."""

    def __init__(
        self,
        user_id: str,
        token: str,
        http: httpx.AsyncClient,
        pages: list[Page],
        rng: random.Random,
        counters: Counters,
        pace: float = 1.0,
    ) -> None:
        self.user_id = user_id
        self.client_id = f"chaos-{user_id[-12:]}"
        self.auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.http = http
        self.pages = pages
        self.rng = rng
        self.counters = counters
        self.pace = pace
        self.acked: list[ClientEvent] = []
        self.stops: list[ServerStop] = []
        self.sessions: list[str] = []
        self.b = Browser(self.client_id, "", ts=now_ms())
        self._queued = 0  # events of self.b.events already handed to the uploader
        self._queue: list[ClientEvent] = []
        self._sent: list[tuple[str, list[ClientEvent]]] = []
        self._server_seq = 0
        self._recording = True
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._one_request = asyncio.Lock()  # the log holds a user's requests in answer order
        self.tabs: dict[int, tuple[int, str]] = {}
        self.active: dict[int, int] = {}
        self.window = 1
        self.next_tab = 10
        self.blurred = False
        self.idle = False

    # --- the recorder -------------------------------------------------------------

    async def run(self, until: float) -> None:
        """Record sessions until ``until`` (monotonic), then stop and upload everything."""
        uploader = asyncio.create_task(self._upload_loop())
        try:
            await asyncio.sleep(self.rng.uniform(0, 3) * self.pace)
            while time.monotonic() < until:
                await self._session(until)
                await asyncio.sleep(self.rng.uniform(1, 5) * self.pace)
        except BaseException:  # interrupted: nothing more is uploaded
            uploader.cancel()
            raise
        self._recording = False
        self._wake.set()
        await uploader

    async def _session(self, until: float) -> None:
        self.b.session_id = uuid7(now_ms())
        self.sessions.append(self.b.session_id)
        self.counters.sessions += 1
        self._tick()
        self.b.start(label=self.rng.choice(["", "research", "reading", "shopping"]))
        self._tick()
        self.b.focus(self.window)
        self.blurred = self.idle = False
        self._read()
        length = self.rng.uniform(15, 60) * self.pace
        ends = min(until, time.monotonic() + length)
        while time.monotonic() < ends:
            await asyncio.sleep(self.rng.uniform(0.2, 2.5) * self.pace)
            self._act()
            self._enqueue(force=False)
        await asyncio.sleep(self.rng.uniform(0.3, 1.5))
        if self.rng.random() < 0.1:
            await self._server_stop()
        else:
            self._tick()
            self.b.stop()
            self._enqueue(force=True)

    def _tick(self) -> None:
        """Move the client's clock to now; now and then a listener's earlier timestamp."""
        now = now_ms()
        if self.rng.random() < 0.05:
            self.b.ts = now - self.rng.randint(1, 400)  # may be before the previous event
        else:
            self.b.ts = max(self.b.ts + 1, now)

    def _act(self) -> None:
        if self.blurred:
            self._tick()
            self.b.focus(self.window)
            self.blurred = False
            return
        if self.idle:
            self._tick()
            self.b.idle("active")
            self.idle = False
            return
        actions = [
            (self._read, 8), (self._navigate, 3), (self._spa, 2), (self._retitle, 1),
            (self._blur, 1), (self._go_idle, 1), (self._media, 1), (self._close_tab, 1),
            (self._blank, 1), (self._other_window, 1),
        ]  # fmt: skip
        choice = self.rng.choices([a for a, _ in actions], [w for _, w in actions])[0]
        choice()

    def _page(self) -> Page:
        return self.rng.choice(self.pages)

    def _current(self) -> int | None:
        return self.active.get(self.window)

    def _read(self) -> None:
        page = self._page()
        same = [t for t, (w, u) in self.tabs.items() if u == page.url and w == self.window]
        if same and self.rng.random() < 0.7:
            tab = same[0]
        else:
            self.next_tab += 1
            tab = self.next_tab
        self.tabs[tab] = (self.window, page.url)
        self.active[self.window] = tab
        self._tick()
        self.b.activate(tab, page.url, window=self.window, title=page.title)
        if not same or self.rng.random() < 0.2:
            self._tick()
            self.b.content(tab, page.url, page.text, title=page.title)

    def _navigate(self) -> None:
        tab = self._current()
        if tab is None:
            return self._read()
        page = self._page()
        self.tabs[tab] = (self.window, page.url)
        self._tick()
        self.b.navigate(tab, page.url, window=self.window, title=page.title)
        self._tick()
        self.b.content(tab, page.url, page.text, title=page.title)
        return None

    def _spa(self) -> None:
        tab = self._current()
        if tab is None:
            return self._read()
        base = self.tabs[tab][1].split("#")[0].rstrip("/")
        url = f"{base.split('/part-')[0]}/part-{self.rng.randint(1, 5)}"
        self.tabs[tab] = (self.window, url)
        self._tick()
        self.b.navigate(tab, url, window=self.window, change="history")
        return None

    def _retitle(self) -> None:
        tab = self._current()
        if tab is not None:
            self._tick()
            url = self.tabs[tab][1]
            self.b.navigate(tab, url, window=self.window, title="(2) messages", change="title")

    def _blur(self) -> None:
        self._tick()
        self.b.blur()
        self.blurred = True

    def _go_idle(self) -> None:
        self._tick()
        state = self.rng.choice(["idle", "idle", "locked"])
        self.b.idle(state, idle_for_s=60 if state == "idle" else 0)
        self.idle = True

    def _media(self) -> None:
        tab = self._current()
        if tab is not None:
            self._tick()
            self.b.media(tab, self.rng.random() < 0.6)

    def _close_tab(self) -> None:
        tab = self._current()
        if tab is None:
            return
        self._tick()
        self.b.close(tab, window=self.window)
        del self.tabs[tab]
        del self.active[self.window]
        left = [t for t, (w, _) in self.tabs.items() if w == self.window]
        if left:
            self.active[self.window] = left[-1]
            self._tick()
            self.b.activate(left[-1], self.tabs[left[-1]][1], window=self.window)

    def _blank(self) -> None:
        self.next_tab += 1
        url = self.rng.choice(["about:blank", "chrome://newtab/"])
        self.tabs[self.next_tab] = (self.window, url)
        self.active[self.window] = self.next_tab
        self._tick()
        self.b.activate(self.next_tab, url, window=self.window)

    def _other_window(self) -> None:
        self.window = 2 if self.window == 1 else 1
        self._tick()
        self.b.focus(self.window)
        tab = self._current()
        if tab is None:
            self._read()

    # --- the uploader -------------------------------------------------------------

    def _enqueue(self, *, force: bool) -> None:
        """Hand new events to the uploader (every few seconds or 50 events, like the extension)."""
        fresh = self.b.events[self._queued :]
        if not fresh:
            return
        if not force and len(fresh) < 50 and self.rng.random() > 0.3 / self.pace:
            return
        self._queued = len(self.b.events)
        self._queue.extend(fresh)
        self._drained.clear()
        self._wake.set()

    async def _upload_loop(self) -> None:
        while True:
            if not self._queue:
                self._drained.set()
                if not self._recording:
                    self._enqueue(force=True)
                    if not self._queue:
                        return
                else:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
            batch = self._queue[:MAX_UPLOAD]
            batch_id = uuid7(now_ms())
            await self._send(batch_id, batch)
            del self._queue[: len(batch)]
            await self._misbehave(batch_id, batch)

    async def _misbehave(self, batch_id: str, batch: list[ClientEvent]) -> None:
        """Retries and re-sends a real extension produces now and then."""
        roll = self.rng.random()
        if roll < 0.05:
            self.counters.resent_same_id += 1
            await self._send(batch_id, batch)
        elif roll < 0.08:
            self.counters.resent_new_id += 1
            await self._send(uuid7(now_ms()), batch[self.rng.randrange(len(batch)) :])
        elif roll < 0.11 and self._sent:
            self.counters.resent_late += 1
            await self._send(*self.rng.choice(self._sent[-4:]))
        self._sent.append((batch_id, batch))
        del self._sent[:-8]

    async def _post(self, path: str, body: bytes) -> httpx.Response | None:
        """One request; ``None`` when it got no answer (the outcome is unknown)."""
        try:
            return await self.http.post(path, content=body, headers=self.auth, timeout=15.0)
        except httpx.HTTPError:
            return None

    async def _send(self, batch_id: str, events: list[ClientEvent]) -> None:
        """Upload until acknowledged; record what the gateway accepted, in log order."""
        async with self._one_request:
            await self._send_alone(batch_id, events)

    async def _send_alone(self, batch_id: str, events: list[ClientEvent]) -> None:
        body = msgspec.json.encode(
            EventBatch(batch_id=batch_id, client_id=self.client_id, events=events)
        )
        self.counters.uploads += 1
        delay = 0.1
        while True:
            answer = await self._post("/v1/events", body)
            status = "no-answer" if answer is None else str(answer.status_code)
            self.counters.statuses[status] = self.counters.statuses.get(status, 0) + 1
            if answer is not None and answer.status_code == 202:
                result = answer.json()
                refused = {r["index"] for r in result.get("rejected", [])}
                self.counters.rejected_events += len(refused)
                self.counters.duplicates_answered += bool(result.get("duplicate"))
                self.acked.extend(e for i, e in enumerate(events) if i not in refused)
                return
            if answer is not None and answer.status_code not in RETRY_STATUSES:
                self.counters.refused_by("/v1/events", answer)
                return
            self.counters.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _server_stop(self) -> None:
        """Stop the session from the server side, as the dashboard does.

        Half the time once everything recorded before is acknowledged; otherwise while
        the extension still holds events of the session, which then arrive after the
        stop (late uploads: the fold decides what they count for).
        """
        self._enqueue(force=True)
        if self.rng.random() < 0.5 or not self._start_acknowledged(self.b.session_id):
            # (the server knows a session only once its start is stored: 404 before)
            await self._drained.wait()
            while self._queue:  # the wake may have raced the last enqueue
                await asyncio.sleep(0.05)
                await self._drained.wait()
        async with self._one_request:
            await self._stop_alone(self.b.session_id)

    def _start_acknowledged(self, session_id: str) -> bool:
        return any(
            isinstance(e, SessionStarted) and e.session_id == session_id
            for e in reversed(self.acked)
        )

    async def _stop_alone(self, session_id: str) -> None:
        unanswered: list[tuple[int, int]] = []
        delay = 0.1
        while True:
            sent = now_ms()
            answer = await self._post(f"/v1/sessions/{session_id}/stop", b"")
            status = "stop:" + ("no-answer" if answer is None else str(answer.status_code))
            self.counters.statuses[status] = self.counters.statuses.get(status, 0) + 1
            if answer is not None and answer.status_code == 202:
                break
            if answer is None:
                unanswered.append((sent, now_ms()))
            elif answer.status_code not in RETRY_STATUSES:
                self.counters.refused_by(f"/v1/sessions/{session_id}/stop", answer)
                return
            self.counters.retries += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        self.counters.server_stops += 1
        self._server_seq += 1
        stopped_at = int(answer.json()["stopped_at"])
        self.stops.append(ServerStop(session_id, stopped_at, self._server_seq, unanswered))
        self.acked.append(
            SessionStopped(
                event_id=uuid7(stopped_at),
                client_id=f"server:{self.user_id}",
                session_id=session_id,
                seq=self._server_seq,
                ts=stopped_at,
            )
        )
