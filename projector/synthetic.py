"""A synthetic, deterministic event log for tests and benches (never used at runtime).

It produces what the gateway and processors would have appended for a crowd of
users: raw uploads (session start, tab events, stop) and the derived events
(closed visits, discovered and enriched URLs, closed sessions, status changes,
mind maps), partitioned by user exactly as the real producers do.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator

import msgspec
import redis.asyncio as aioredis

from mindhit import streams
from mindhit.settings import Settings
from mindhit.visit_rows import encode_rows
from schema.derived import (
    DerivedEvent,
    MindmapBuilt,
    MindmapNode,
    SessionClosed,
    SessionStatusChanged,
    UrlDiscovered,
    UrlEnriched,
    VisitClosed,
)
from schema.events import ClientEvent, SessionStarted, SessionStopped, TabActivated
from schema.ids import deterministic_id, uuid7
from schema.log import DerivedEntry, RawEntry, Upload, encode_derived_entry, encode_raw_entry
from schema.topics import RAW_TOPIC, SESSIONS_TOPIC, URLS_TOPIC, VISITS_TOPIC, partition_for
from schema.visits import columnar

__all__ = ["LogItem", "synth_log", "user_ids", "write_log"]

BASE_TS = 1_764_000_000_000  # 2025-11-24


class LogItem(msgspec.Struct, frozen=True):
    """One stream entry to append: its topic, partition key, value and timestamp."""

    topic: str
    key: str
    value: bytes
    ts: int
    events: int


def user_ids(seed: int, users: int) -> list[str]:
    """The user ids :func:`synth_log` uses for ``seed``."""
    return [deterministic_id("synthetic-user", seed, i) for i in range(users)]


def _session(
    rng: random.Random, user: str, client: str, s: int, visits: int, t0: int, shape: str
) -> Iterator[LogItem]:
    sid = deterministic_id("session", user, s)
    raw: list[ClientEvent] = [
        SessionStarted(
            event_id=uuid7(t0), client_id=client, session_id=sid, seq=0, ts=t0, label=f"s{s}"
        )
    ]
    derived_visits: list[DerivedEvent] = []
    derived_urls: list[DerivedEvent] = []
    t = t0
    for v in range(visits):
        page = rng.randrange(500)
        url = f"https://site{page % 37}.example/page/{page}"
        url_hash = hashlib.sha256(url.encode()).hexdigest()[:32]
        text = f"text {page} about topic {page % 11} and running rivers"
        content = hashlib.sha256(text.encode()).hexdigest()
        dwell = rng.randrange(1_000, 120_000)
        raw.append(
            TabActivated(
                event_id=uuid7(t), client_id=client, session_id=sid, seq=v + 1, ts=t,
                tab_id=v % 7, window_id=1, url=url, title=f"Page {page}",
            )
        )  # fmt: skip
        derived_visits.append(
            VisitClosed(
                user_id=user, visit_id=deterministic_id(client, v + 1 + s * 10_000),
                client_id=client, session_id=sid, tab_id=v % 7, url=url, url_hash=url_hash,
                domain=f"site{page % 37}.example", title=f"Page {page}", start_ts=t,
                end_ts=t + dwell, dwell_ms=dwell, opened_seq=v + 1, end_reason="switch",
                content_hash=content,
            )
        )  # fmt: skip
        if v % 4 == 0:
            derived_urls.append(
                UrlDiscovered(
                    user_id=user, url_hash=url_hash, url=url, domain=f"site{page % 37}.example",
                    title=f"Page {page}", first_seen_ts=t, content_hash=content, lang="en",
                    text=text,
                )
            )  # fmt: skip
            derived_urls.append(
                UrlEnriched(
                    user_id=user, url_hash=url_hash, content_hash=content,
                    summary=f"Summary of page {page}", tags=[f"t{page % 5}", "demo"],
                    topic=f"topic {page % 11}", provider="local", enriched_ts=t + 10,
                )
            )  # fmt: skip
        t += dwell
    raw.append(
        SessionStopped(event_id=uuid7(t), client_id=client, session_id=sid, seq=visits + 1, ts=t)
    )
    upload = Upload(batch_id=uuid7(t0), user_id=user, client_id=client, received_at=t, events=raw)
    yield LogItem(RAW_TOPIC, user, encode_raw_entry(RawEntry(uploads=[upload])), t, len(raw))
    for i in range(0, len(derived_visits), 200):
        chunk = derived_visits[i : i + 200]
        entry = DerivedEntry(events=_shaped(shape, user, chunk))
        yield LogItem(VISITS_TOPIC, user, encode_derived_entry(entry), t, len(chunk))
    if derived_urls:
        yield LogItem(
            URLS_TOPIC,
            user,
            encode_derived_entry(DerivedEntry(events=derived_urls)),
            t,
            len(derived_urls),
        )
    closing = _closing(user, sid, f"s{s}", (t0, t), visits)
    yield LogItem(
        SESSIONS_TOPIC, user, encode_derived_entry(DerivedEntry(events=closing)), t, len(closing)
    )


def _shaped(shape: str, user: str, visits: list[DerivedEvent]) -> list[DerivedEvent]:
    """One user's visits of an entry in the derived log's ``shape`` (see :func:`synth_log`)."""
    if shape == "rows":
        return [encode_rows(user, visits)]  # type: ignore[arg-type]
    return columnar(visits) if shape == "columns" else visits  # type: ignore[return-value]


def _closing(
    user: str, sid: str, label: str, span: tuple[int, int], visits: int
) -> list[DerivedEvent]:
    """What the processors derive when a session ends: close it, map it, complete it."""
    t0, t = span
    return [
        SessionStatusChanged(user_id=user, session_id=sid, status="processing", ts=t),
        SessionClosed(
            user_id=user, session_id=sid, started_ts=t0, stopped_ts=t, active_ms=t - t0,
            page_count=visits, domain_count=min(visits, 37),
        ),
        MindmapBuilt(
            user_id=user, session_id=sid, provider="local", built_ts=t + 5,
            root=MindmapNode(
                label=label, children=[MindmapNode(label="topic", weight_ms=t - t0)]
            ),
        ),
        SessionStatusChanged(user_id=user, session_id=sid, status="completed", ts=t + 5),
    ]  # fmt: skip


def synth_log(
    seed: int,
    *,
    users: int,
    sessions_per_user: int,
    visits_per_session: int,
    base_ts: int = BASE_TS,
    visit_shape: str = "rows",
) -> Iterator[LogItem]:
    """Yield the entries of a synthetic log, users interleaved session by session; closed
    visits as ``visit_shape``: ``rows`` COPY rows (``VisitRows``) as the processors write
    them, ``columns`` (``VisitsClosed``) and ``events`` (one ``VisitClosed`` per visit) as
    earlier builds did."""
    rng = random.Random(seed)
    ids = user_ids(seed, users)
    for s in range(sessions_per_user):
        for u, user in enumerate(ids):
            t0 = base_ts + s * 86_400_000 + u * 1000
            yield from _session(
                rng, user, f"client-{seed}-{u}", s, visits_per_session, t0, visit_shape
            )


async def write_log(
    redis: aioredis.Redis,
    settings: Settings,
    items: Iterator[LogItem] | list[LogItem],
    chunk: int = 500,
) -> int:
    """Append ``items`` through :mod:`mindhit.streams` (pipelined); return events written."""
    events = 0
    pipe = redis.pipeline(transaction=False)
    pending = 0
    for item in items:
        stream = streams_key(settings, item.topic, item.key)
        streams.queue_append(pipe, stream, item.value, key=item.key.encode(), timestamp_ms=item.ts)
        events += item.events
        pending += 1
        if pending >= chunk:
            await pipe.execute()
            pending = 0
    if pending:
        await pipe.execute()
    return events


def streams_key(settings: Settings, topic: str, key: str) -> str:
    """The stream an entry keyed by ``key`` (a user id) goes to."""
    from schema.topics import stream_key

    return stream_key(settings.key_prefix, topic, partition_for(key, settings.partitions))
