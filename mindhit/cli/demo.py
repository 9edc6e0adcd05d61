"""``mindhit demo``: realistic browsing sessions from the demo corpus, through the real gateway.

A new user should see a filled dashboard within a minute of ``mindhit up``. The demo
plays the extension's part: it makes a device token (or uses the one given), builds the
events a person reading the corpus pages would produce (tab switches, navigations,
extracted page text, idle spells, focus changes, start and stop), uploads them to
``POST /v1/events`` in batches exactly as the extension does, and then waits until the
projector shows the sessions as ready. Event planning is a pure function of the corpus,
the seed and the clock; only :func:`run_demo` does I/O.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from collections.abc import Sequence
from typing import Any

import httpx
import msgspec
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mindhit.clock import Clock, system_clock
from mindhit.corpus import CorpusPage, load_pages
from mindhit.settings import Settings
from processors.state import dwell_ttl_ms
from schema.api import MAX_BATCH_EVENTS, BatchResult, EventBatch
from schema.events import (
    ClientEvent,
    IdleState,
    PageContent,
    SessionStarted,
    SessionStopped,
    TabActivated,
    TabRemoved,
    TabUpdated,
    WindowFocus,
)
from schema.ids import uuid7

__all__ = ["DemoError", "DemoRequest", "DemoResult", "DemoSession", "plan_sessions", "run_demo"]

BATCH_EVENTS = 200
DAY_MS = 86_400_000
_SESSION_GAP_MS = 26 * 3_600_000
"""Sessions start about a day apart (a little later each day) when they fit."""
MIN_GAP_MS = 2 * 3_600_000
"""A session lasts about an hour at most: starts this far apart (less a quarter, the
jitter) never overlap."""
_IDLE_FOR_S = 60
"""chrome.idle's default detection interval: idle is reported a minute after the last input."""
_LABELS = {
    "cooking": "Weekend cooking",
    "astronomy": "Night-sky reading",
    "python programming": "Python deep dive",
    "hiking and travel": "Trip planning",
    "personal finance": "Money matters",
    "football": "Football catch-up",
}


class DemoError(RuntimeError):
    """The demo could not run (gateway unreachable, token refused, …)."""


class DemoSession(msgspec.Struct, frozen=True, kw_only=True):
    """One planned session: its id, label and the events the extension would send."""

    session_id: str
    label: str
    topics: list[str]
    events: list[ClientEvent]


class DemoRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What to fill: whose dashboard, through which gateway, how much."""

    email: str
    gateway_url: str
    password: str | None = None
    """For a new account (else it has none)."""
    token: str | None = None
    """A device token to upload with (else one is made)."""
    sessions: int = 3
    seed: int = 7
    wait_s: float = 90.0
    """How long to wait for the sessions to be ready (0: do not wait)."""


class DemoResult(msgspec.Struct, frozen=True, kw_only=True):
    """What the demo did."""

    email: str
    user_id: str
    sessions: list[str]
    events: int
    ready: int
    token_created: bool


class _Seq:
    def __init__(self) -> None:
        self.value = 0

    def __call__(self) -> int:
        self.value += 1
        return self.value


def _content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def plan_sessions(
    pages: Sequence[CorpusPage],
    *,
    sessions: int,
    seed: int,
    now_ms: int,
    client_id: str,
    within_ms: int = 6 * DAY_MS,
) -> list[DemoSession]:
    """Plan ``sessions`` sessions ending before ``now_ms``, newest last.

    Each session reads mostly one topic and dips into a second one; dwell per page is
    40 s-6 min; some pages are followed by an idle spell (an idle gap on the timeline);
    the browser loses focus once in a while. Sequence numbers increase across sessions.
    Sessions start a day apart or, when that would reach further back than
    ``within_ms``, evenly within it (never closer than :data:`MIN_GAP_MS`): uploaded
    now, older ones would come too late for the processors (their state's life, see
    :mod:`processors.dwell`) and fail.
    """
    gap = min(_SESSION_GAP_MS, within_ms // max(sessions, 1))
    if gap < MIN_GAP_MS:
        most = within_ms // MIN_GAP_MS
        raise DemoError(f"at most {most} demo sessions fit in {within_ms / DAY_MS:.1f} days")
    rng = random.Random(seed)
    by_topic: dict[str, list[CorpusPage]] = {}
    for page in pages:
        by_topic.setdefault(page.topic, []).append(page)
    topics = list(by_topic)
    if not topics:
        raise DemoError("the demo corpus is empty")
    seq = _Seq()
    planned: list[DemoSession] = []
    for index in range(sessions):
        main = topics[(seed + index) % len(topics)]
        other = topics[(seed + index + 1 + rng.randrange(max(1, len(topics) - 1))) % len(topics)]
        chosen = rng.sample(by_topic[main], k=min(len(by_topic[main]), rng.randint(5, 7)))
        if other != main:
            chosen += rng.sample(by_topic[other], k=min(len(by_topic[other]), 2))
            rng.shuffle(chosen)
        start = now_ms - (sessions - index) * gap + rng.randint(0, gap // 4)
        session_id = uuid7(start)
        planned.append(
            DemoSession(
                session_id=session_id,
                label=_LABELS.get(main, main.title()),
                topics=[main, other] if other != main else [main],
                events=_session_events(
                    chosen, rng, start, session_id, client_id, seq, _LABELS.get(main, main.title())
                ),
            )
        )
    return planned


def _session_events(
    chosen: Sequence[CorpusPage],
    rng: random.Random,
    start: int,
    session_id: str,
    client_id: str,
    seq: _Seq,
    label: str,
) -> list[ClientEvent]:
    def env(ts: int) -> dict[str, Any]:
        return {
            "event_id": uuid7(ts),
            "client_id": client_id,
            "session_id": session_id,
            "seq": seq(),
            "ts": ts,
        }

    tab_id = 100 + rng.randrange(100)
    window = 1
    events: list[ClientEvent] = [
        SessionStarted(**env(start), label=label),
        WindowFocus(**env(start + 200), focused=True, window_id=window),
    ]
    ts = start + 1_000
    for position, page in enumerate(chosen):
        if position == 0 or rng.random() < 0.4:
            tab_id += 0 if position == 0 else 1
            events.append(
                TabActivated(
                    **env(ts), tab_id=tab_id, window_id=window, url=page.url, title=page.title
                )
            )
        else:  # a navigation in the same tab: the URL changes first, the title on load
            events.append(
                TabUpdated(**env(ts), tab_id=tab_id, window_id=window, url=page.url, change="url")
            )
            events.append(
                TabUpdated(
                    **env(ts + 600),
                    tab_id=tab_id,
                    window_id=window,
                    url=page.url,
                    title=page.title,
                    change="title",
                )
            )
        events.append(
            PageContent(
                **env(ts + 1_200),
                tab_id=tab_id,
                url=page.url,
                title=page.title,
                lang=page.lang,
                text=page.text,
                content_hash=_content_hash(page.text),
            )
        )
        ts += rng.randint(40_000, 360_000)
        roll = rng.random()
        if roll < 0.2:  # the reading ended at ts; chrome.idle reports it a minute later
            ts += _IDLE_FOR_S * 1_000
            events.append(IdleState(**env(ts), state="idle", idle_for_s=_IDLE_FOR_S))
            ts += rng.randint(120_000, 600_000)
            events.append(IdleState(**env(ts), state="active"))
        elif roll < 0.3:
            events.append(WindowFocus(**env(ts), focused=False, window_id=-1))
            ts += rng.randint(60_000, 240_000)
            events.append(WindowFocus(**env(ts), focused=True, window_id=window))
        ts += rng.randint(500, 4_000)
    events.append(TabRemoved(**env(ts), tab_id=tab_id, window_id=window))
    events.append(SessionStopped(**env(ts + 500)))
    return events


def _batches(events: Sequence[ClientEvent], size: int) -> list[list[ClientEvent]]:
    return [list(events[i : i + size]) for i in range(0, len(events), size)]


async def _account(settings: Settings, email: str, password: str | None) -> tuple[str, str]:
    """Find or create the user; create a device token named ``demo``. Returns (user, token)."""
    from mindhit.accounts import create_token, create_user, find_user
    from mindhit.db import connect_async

    async with await connect_async(settings.database_url, autocommit=True) as conn:
        user = await find_user(conn, email)
        if user is None:
            if not password:
                raise DemoError(
                    f"no user {email}: sign up in the dashboard first, or pass --password"
                )
            from mindhit.passwords import hash_password

            user = await create_user(conn, email, password_hash=await hash_password(password))
        _, secret = await create_token(conn, user.user_id, "demo")
        return user.user_id, secret


async def _user_of_token(settings: Settings, token: str) -> str:
    from mindhit.accounts import lookup_token
    from mindhit.db import connect_async

    async with await connect_async(settings.database_url, autocommit=True) as conn:
        info = await lookup_token(conn, token)
    if info is None or info.revoked:
        raise DemoError("that device token is unknown or revoked")
    return info.user_id


async def _ready_count(settings: Settings, session_ids: list[str]) -> int:
    from mindhit.db import connect_async, sql_file

    async with await connect_async(settings.database_url, autocommit=True) as conn:
        cur = await conn.execute(sql_file("mindhit.cli", "demo_ready"), (session_ids,))
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _upload(
    client: httpx.AsyncClient,
    gateway_url: str,
    token: str,
    client_id: str,
    batch: list[ClientEvent],
) -> BatchResult:
    body = msgspec.json.encode(EventBatch(batch_id=uuid7(), client_id=client_id, events=batch))
    for attempt in range(5):
        try:
            answer = await client.post(
                f"{gateway_url.rstrip('/')}/v1/events",
                content=body,
                headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
            )
        except httpx.TransportError as exc:
            if attempt == 4:
                raise DemoError(f"cannot reach the gateway at {gateway_url}: {exc}") from exc
            await asyncio.sleep(0.5 * 2**attempt)
            continue
        if answer.status_code == 202:
            result = msgspec.json.decode(answer.content, type=BatchResult)
            if result.rejected:
                raise DemoError(f"the gateway rejected demo events: {result.rejected[:3]}")
            return result
        if answer.status_code in (429, 503) and attempt < 4:
            # a quota or an outage: never sooner than the gateway's Retry-After
            wait = answer.headers.get("retry-after", "")
            await asyncio.sleep(max(float(wait) if wait.isdigit() else 0.0, 0.5 * 2**attempt))
            continue
        raise DemoError(f"the gateway answered {answer.status_code}: {answer.text[:300]}")
    raise DemoError("the gateway kept refusing the upload")


def run_demo(
    settings: Settings, request: DemoRequest, *, clock: Clock = system_clock
) -> DemoResult:
    """Upload demo sessions for ``request.email`` through the gateway; wait until they are ready.

    Steps: resolve PostgreSQL; find or create the user and make a device token (unless
    ``request.token`` is given); plan the sessions; upload their events in batches of 200
    with a progress bar; poll the read tables until every session is ready (or
    ``request.wait_s`` passes).
    """
    from mindhit.services import resolve_services

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per upload is noise here
    services = resolve_services(settings)
    resolved = msgspec.structs.replace(
        settings, redis_url=services.redis_url, database_url=services.database_url
    )
    try:
        return asyncio.run(_run(resolved, request, clock))
    finally:
        services.stop()


async def _run(settings: Settings, request: DemoRequest, clock: Clock) -> DemoResult:
    token = request.token
    if token:
        user_id = await _user_of_token(settings, token)
        created = False
    else:
        user_id, token = await _account(settings, request.email, request.password)
        created = True
    now_ms = clock()
    client_id = f"demo-{uuid7(now_ms)[-12:]}"
    planned = plan_sessions(
        load_pages(),
        sessions=request.sessions,
        seed=request.seed,
        now_ms=now_ms,
        client_id=client_id,
        within_ms=dwell_ttl_ms(settings) * 6 // 7,  # 6 of the state's 7 days (by default)
    )
    total = sum(len(s.events) for s in planned)
    ids = [s.session_id for s in planned]
    ready = 0
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    async with httpx.AsyncClient(timeout=30.0) as client:
        with Progress(*columns, transient=False) as progress:
            upload = progress.add_task("uploading events", total=total)
            for session in planned:
                for batch in _batches(session.events, min(BATCH_EVENTS, MAX_BATCH_EVENTS)):
                    await _upload(client, request.gateway_url, token, client_id, batch)
                    progress.advance(upload, len(batch))
            if request.wait_s > 0:
                waiting = progress.add_task("sessions ready", total=len(ids))
                deadline = time.monotonic() + request.wait_s
                while time.monotonic() < deadline:
                    ready = await _ready_count(settings, ids)
                    progress.update(waiting, completed=ready)
                    if ready == len(ids):
                        break
                    await asyncio.sleep(0.5)
    return DemoResult(
        email=request.email,
        user_id=user_id,
        sessions=ids,
        events=total,
        ready=ready,
        token_created=created,
    )
