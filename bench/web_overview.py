"""The overview part of ``bench/web.py``: a year of history for one user, then its latency.

``seed_year`` gives one user ``visits`` page visits over the 365 days before
2026-12-31 (8 sessions a day, pages drawn from 20,000 with a Zipf-like popularity,
5 mind-map topics per session) by COPY into ``page_visits``/``sessions``/``urls``/
``mindmap_graphs``, then builds the rollups (the overview's, the search's titles) with the
projector's own code
(:func:`projector.overview.rebuild_user`, the path an erasure takes; tests prove it
equals folding). ``drive_overview`` signs in and requests ``/v1/overview`` for random
days, weeks and months of that year from a few clients; latencies per period.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import httpx
import msgspec
import psycopg

from projector.overview import OVERVIEW_TABLES, rebuild_user
from web.auth import hash_password

__all__ = ["ROLLUP_SOURCES", "YEAR_EMAIL", "drive_overview", "seed_year", "sign_in"]

YEAR_EMAIL = "year@example.com"
PASSWORD = "bench password 123"
LAST_DAY = date(2026, 12, 31)
SESSIONS_PER_DAY = 8
PAGES = 20_000
ROLLUP_SOURCES = {t: t for t in ("page_visits", "mindmap_graphs", *OVERVIEW_TABLES,
                                 "overview_branches")}  # fmt: skip
"""The live tables :func:`projector.overview.rebuild_user` reads and writes (a rollup left
out of the map would leave every rollup of ``page_visits`` unbuilt)."""


def _page(i: int) -> tuple[str, str, str, str]:
    url_hash = f"y{i:063x}"
    domain = f"site{i % 300}.example"
    return url_hash, f"https://{domain}/article/{i}", f"Article {i} on {domain}", domain


def seed_year(url: str, *, visits: int) -> str:
    """Create the year user with ``visits`` visits and their rollups; return the user id."""
    rng = random.Random(7)
    user_id = str(uuid.uuid4())
    weights = [1 / (k + 1) ** 0.9 for k in range(PAGES)]
    first = LAST_DAY - timedelta(days=364)
    per_session = max(1, visits // (365 * SESSIONS_PER_DAY))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (user_id, email, password_hash) VALUES (%s, %s, %s)",
            (user_id, YEAR_EMAIL, asyncio.run(hash_password(PASSWORD))),
        )
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY urls (url_hash, content_hash, user_id, url, title, domain, summary, tags,"
                " topic) FROM STDIN"
            ) as cp,
        ):
            for i in range(PAGES):
                h, u, t, d = _page(i)
                cp.write_row((h, h, user_id, u, t, d, f"About {t}", [f"tag{i % 40}", "bench"],
                              f"Topic {i % 25}"))  # fmt: skip
        sessions: list[tuple[str, datetime]] = []
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY page_visits (visit_id, user_id, session_id, client_id, url_hash,"
                " content_hash, url, title, domain, start_at, end_at, dwell_ms) FROM STDIN"
            ) as cp,
        ):
            for day in range(365):
                for s in range(SESSIONS_PER_DAY):
                    at = datetime.combine(first + timedelta(days=day), datetime.min.time(), UTC)
                    at += timedelta(hours=7 + 2 * s)
                    sid = str(uuid.uuid4())
                    sessions.append((sid, at))
                    picks = rng.choices(range(PAGES), weights=weights, k=per_session)
                    for i in picks:
                        h, u, t, d = _page(i)
                        dwell = rng.randint(2_000, 120_000)
                        cp.write_row((str(uuid.uuid4()), user_id, sid, "bench", h, h, u, t, d, at,
                                      at + timedelta(milliseconds=dwell), dwell))  # fmt: skip
                        at += timedelta(milliseconds=dwell + 500)
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY sessions (session_id, user_id, status, started_at, stopped_at, active_ms,"
                " page_count) FROM STDIN"
            ) as cp,
        ):
            for sid, at in sessions:
                cp.write_row((sid, user_id, "completed", at, at + timedelta(hours=2), 3_600_000,
                              per_session))  # fmt: skip
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY mindmap_graphs (session_id, user_id, graph, provider, built_at) FROM STDIN"
            ) as cp,
        ):
            for sid, at in sessions:
                tree = {"label": "Map", "children": [
                    {"label": f"Topic {rng.randrange(40)}", "weight_ms": 60_000 * (k + 1),
                     "children": [{"label": "p", "url": "https://site.example/p"}]}
                    for k in range(5)]}  # fmt: skip
                cp.write_row((sid, user_id, msgspec.json.encode(tree).decode(), "local", at))
        with conn.transaction():
            rebuild_user(conn, ROLLUP_SOURCES, user_id)
        conn.execute("ANALYZE")
    return user_id


async def sign_in(client: httpx.AsyncClient, email: str, password: str) -> None:
    """Sign in through the form (CSRF token from the page), as a browser does."""
    page = await client.get("/login")
    token = re.search(r'name="csrf-token" content="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]
    answer = await client.post(
        "/login",
        data={"email": email, "password": password, "_csrf_token": token},
        follow_redirects=True,
    )
    assert answer.status_code == 200 and "Sessions" in answer.text, answer.status_code


async def drive_overview(base: str, seconds: float, concurrency: int) -> dict[str, list[float]]:
    """Request ``/v1/overview`` for random days/weeks/months of the year; latencies (ms)."""
    timings: dict[str, list[float]] = {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await sign_in(client, YEAR_EMAIL, PASSWORD)
        rng = random.Random(3)
        for period in ("day", "week", "month"):  # warm-up
            await client.get(f"/v1/overview?period={period}&date={LAST_DAY}")
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < deadline:
                for period in ("day", "week", "month"):
                    day = LAST_DAY - timedelta(days=rng.randrange(365))
                    began = time.perf_counter()
                    reply = await client.get(f"/v1/overview?period={period}&date={day}")
                    elapsed = (time.perf_counter() - began) * 1000
                    if reply.status_code != 200 or reply.json()["total_ms"] <= 0:
                        raise RuntimeError(f"overview {period} {day}: {reply.status_code}")
                    timings.setdefault(period, []).append(elapsed)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return timings
