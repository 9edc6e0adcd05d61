"""Dashboard benchmark: page and API latency for a user with 100,000 visits, and the
overview's latency for a user with a year of history (1,000,000 visits by default).

Seeds a private PostgreSQL database with one heavy user (1,000 sessions x 100 visits,
5,000 distinct pages with text, summaries and mind maps) in the projector's table
shapes (its rollups built by the projector's own code), starts the real ``mindhit web``
on a free loopback port, signs in, and requests the dashboard's pages and JSON API
round-robin from a few concurrent clients for ``--seconds``. Prints per-route p50/p95
and, as the last line, JSON with the overall ``p95_ms`` (target: < 200 ms), ``p99_ms``,
``requests_per_s`` and ``ratio``: the p95
of the same pages' raw SQL run straight through psycopg in the same run, divided by
the pages' p95 (the share of page time that the queries alone cost). The overview
(``bench/web_overview.py``) adds ``overview_day_p95_ms``, ``overview_week_p95_ms`` and
``overview_month_p95_ms`` (target: month < 100 ms) at ``--overview-visits``.

    python bench/web.py --seconds 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
from argon2 import PasswordHasher
from psycopg.types.json import Jsonb

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.web_overview import ROLLUP_SOURCES, drive_overview, seed_year, sign_in  # noqa: E402
from mindhit.corpus import load_pages  # noqa: E402
from mindhit.db import apply_migrations  # noqa: E402
from projector.overview import rebuild_user  # noqa: E402

ADMIN_URL = os.environ.get(
    "MINDHIT_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("MINDHIT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DB = "mindhit_bench_web"
EMAIL = "heavy@example.com"
PASSWORD = "bench password 123"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(url: str, *, sessions: int, visits_per_session: int, pages: int) -> tuple[str, list[str]]:
    """Create the heavy user and their read-model rows; return (user_id, session_ids)."""
    corpus = load_pages()
    rng = random.Random(1)
    user_id = str(uuid.uuid4())
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (user_id, email, password_hash) VALUES (%s, %s, %s)",
            (user_id, EMAIL, PasswordHasher().hash(PASSWORD)),
        )
        conn.execute("INSERT INTO user_settings (user_id) VALUES (%s)", (user_id,))
        page_rows = []
        for i in range(pages):
            src = corpus[i % len(corpus)]
            url_hash = f"{i:064x}"
            page_rows.append(
                (
                    url_hash,
                    f"{src.url}?v={i}",
                    f"{src.title} #{i}",
                    src.url.split("/")[2],
                    src.text + f" variant{i}",
                    src.topic,
                )
            )
        with (
            conn.cursor() as cur,
            cur.copy("COPY page_texts (content_hash, lang, text) FROM STDIN") as cp,
        ):
            for h, _u, _t, _d, text, _topic in page_rows:
                cp.write_row((h, "en", text))
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY urls (url_hash, content_hash, user_id, url, title, domain, summary, tags,"
                " topic, enriched_at) FROM STDIN"
            ) as cp,
        ):
            for h, u, t, d, text, topic in page_rows:
                cp.write_row((h, h, user_id, u, t, d, text[:200], ["bench", topic], topic, start))
        session_ids: list[str] = []
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY page_visits (visit_id, user_id, session_id, client_id, url_hash,"
                " content_hash, url, title, domain, start_at, end_at, dwell_ms) FROM STDIN"
            ) as cp,
        ):
            for s in range(sessions):
                sid = str(uuid.uuid4())
                session_ids.append(sid)
                at = start + timedelta(hours=8 * s)
                for _ in range(visits_per_session):
                    h, u, t, d, _text, _topic = page_rows[rng.randrange(pages)]
                    dwell = rng.randint(5_000, 300_000)
                    cp.write_row(
                        (
                            str(uuid.uuid4()),
                            user_id,
                            sid,
                            "bench",
                            h,
                            h,
                            u,
                            t,
                            d,
                            at,
                            at + timedelta(milliseconds=dwell),
                            dwell,
                        )
                    )
                    at += timedelta(milliseconds=dwell + rng.randint(500, 60_000))
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY sessions (session_id, user_id, status, label, started_at, stopped_at,"
                " active_ms, page_count, domain_count, last_event_at) FROM STDIN"
            ) as cp,
        ):
            for s, sid in enumerate(session_ids):
                began = start + timedelta(hours=8 * s)
                cp.write_row(
                    (
                        sid,
                        user_id,
                        "completed",
                        f"Session {s}",
                        began,
                        began + timedelta(hours=3),
                        5_400_000,
                        visits_per_session,
                        12,
                        began + timedelta(hours=3),
                    )
                )
        tree = {
            "label": "Bench map",
            "children": [
                {
                    "label": f"Topic {t}",
                    "children": [
                        {
                            "label": page_rows[t * 10 + k][2],
                            "url": page_rows[t * 10 + k][1],
                            "weight_ms": 60_000 * (k + 1),
                        }
                        for k in range(8)
                    ],
                }
                for t in range(5)
            ],
        }
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO mindmap_graphs (session_id, user_id, graph, provider, built_at)"
                " VALUES (%s, %s, %s, 'local', now())",
                [(sid, user_id, Jsonb(tree)) for sid in session_ids],
            )
        with conn.transaction():  # the rollups (the search's titles), as the projector keeps them
            rebuild_user(conn, ROLLUP_SOURCES, user_id)
        conn.execute("ANALYZE")
    return user_id, session_ids


async def drive(
    base: str, session_ids: list[str], seconds: float, concurrency: int
) -> dict[str, list[float]]:
    """Sign in, then request every route round-robin; return latencies (ms) per route."""
    words = ["galaxy", "pizza", "retirement", "python", "trail", "offside"]
    timings: dict[str, list[float]] = {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await sign_in(client, EMAIL, PASSWORD)
        rng = random.Random(2)

        def routes() -> list[tuple[str, str]]:
            sid = rng.choice(session_ids)
            word = rng.choice(words)
            return [
                ("GET /sessions", "/sessions"),
                ("GET /sessions/{id}", f"/sessions/{sid}"),
                ("GET /sessions/{id}/map", f"/sessions/{sid}/map"),
                ("GET /search", f"/search?q={word}"),
                ("GET /settings", "/settings"),
                ("GET /health", "/health"),
                ("GET /v1/sessions", "/v1/sessions"),
                ("GET /v1/sessions/{id}", f"/v1/sessions/{sid}"),
                ("GET /v1/sessions/{id}/mindmap", f"/v1/sessions/{sid}/mindmap"),
                ("GET /v1/search", f"/v1/search?q={word}"),
            ]

        for _name, path in routes():  # warm-up
            await client.get(path)
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            while time.monotonic() < deadline:
                for name, path in routes():
                    began = time.perf_counter()
                    reply = await client.get(path)
                    elapsed = (time.perf_counter() - began) * 1000
                    if reply.status_code != 200:
                        raise RuntimeError(f"{path} answered {reply.status_code}")
                    timings.setdefault(name, []).append(elapsed)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return timings


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def raw_query_ms(url: str, user_id: str, session_ids: list[str], runs: int = 200) -> list[float]:
    """The same-run ceiling: the session list's and a timeline's SQL, straight from psycopg."""
    timings: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(runs):
            started = time.perf_counter()
            conn.execute(
                "SELECT * FROM sessions WHERE user_id = %s ORDER BY started_at DESC LIMIT 50",
                (user_id,),
            ).fetchall()
            conn.execute(
                "SELECT * FROM page_visits WHERE session_id = %s ORDER BY start_at",
                (session_ids[i % len(session_ids)],),
            ).fetchall()
            timings.append((time.perf_counter() - started) * 500)  # per query
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--visits-per-session", type=int, default=100)
    parser.add_argument("--overview-visits", type=int, default=1_000_000)
    parser.add_argument("--db", default=DB, help="database to create (and drop) for the run")
    args = parser.parse_args()
    db = args.db

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db}"')
    url = ADMIN_URL.rpartition("/")[0] + f"/{db}"
    apply_migrations(url)
    began = time.perf_counter()
    user_id, session_ids = seed(
        url, sessions=args.sessions, visits_per_session=args.visits_per_session, pages=5000
    )
    visits = args.sessions * args.visits_per_session
    print(f"seeded {visits:,} visits in {time.perf_counter() - began:.1f}s", file=sys.stderr)
    if args.overview_visits:
        began = time.perf_counter()
        seed_year(url, visits=args.overview_visits)
        print(
            f"seeded a year of {args.overview_visits:,} visits and its rollups"
            f" in {time.perf_counter() - began:.1f}s",
            file=sys.stderr,
        )

    raw_ms = raw_query_ms(url, user_id, session_ids)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINDHIT_")}
    env.update(
        {
            "MINDHIT_DATABASE_URL": url,
            "MINDHIT_REDIS_URL": REDIS_URL,
            "MINDHIT_KEY_PREFIX": f"mhbench-{uuid.uuid4().hex[:6]}",
            "MINDHIT_WEB_PORT": str(port),
            "MINDHIT_SECRET_KEY": "bench",
            "MINDHIT_LOG_LEVEL": "warning",
            "MINDHIT_DATA_DIR": tempfile.mkdtemp(prefix="mhbench-"),
        }
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "mindhit.cli", "web"], env=env, start_new_session=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        timings = asyncio.run(drive(base, session_ids, args.seconds, args.concurrency))
        overview = (
            asyncio.run(drive_overview(base, args.seconds, args.concurrency))
            if args.overview_visits
            else {}
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    every = [v for values in timings.values() for v in values]
    per_route = {}
    for name, values in sorted(timings.items()):
        per_route[name] = {
            "n": len(values),
            "p50_ms": round(statistics.median(values), 1),
            "p95_ms": round(_p(values, 0.95), 1),
        }
        print(
            f"{name:<34} n={len(values):<5} p50={per_route[name]['p50_ms']:>7.1f} ms"
            f"  p95={per_route[name]['p95_ms']:>7.1f} ms"
        )
    for period, values in overview.items():
        print(
            f"{'GET /v1/overview (' + period + ')':<34} n={len(values):<5}"
            f" p50={statistics.median(values):>7.1f} ms  p95={_p(values, 0.95):>7.1f} ms"
        )
    figures = {
        f"overview_{period}_p95_ms": round(_p(values, 0.95), 1)
        for period, values in overview.items()
    }
    print(
        json.dumps(
            {
                "visits": visits,
                "overview_visits": args.overview_visits,
                **figures,
                "requests": len(every),
                "concurrency": args.concurrency,
                "seconds": args.seconds,
                "requests_per_s": round(len(every) / args.seconds, 1),
                "p50_ms": round(statistics.median(every), 1),
                "p95_ms": round(_p(every, 0.95), 1),
                "p99_ms": round(_p(every, 0.99), 1),
                "raw_query_p95_ms": round(_p(raw_ms, 0.95), 2),
                # the share of a page's p95 that its raw SQL already costs (1.0 = no overhead)
                "ratio": round(_p(raw_ms, 0.95) / _p(every, 0.95), 3),
                "routes": per_route,
            }
        )
    )


if __name__ == "__main__":
    main()
