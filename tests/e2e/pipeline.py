"""The real MindHit pipeline as child processes on free loopback ports, for browser tests.

``Pipeline.start`` runs ``python -m mindhit.cli <component>`` for the gateway, the
processors, the projector and the dashboard with their settings in the environment
(a key prefix of their own, the test database, free ports), waits until the HTTP ones
answer, and ``stop`` terminates them (SIGTERM, then SIGKILL). Each component's output is
kept in ``<logs>/<component>.log`` so a failing run can be read afterwards.

Every pipeline's key prefix is a new, empty log, while the test database outlives it.
The database's positions in the log (the projector's and archiver's checkpoints, which
name a topic partition without the key prefix, the archive of the old log and its
derivations) belong to the previous pipeline, so ``start`` clears them first: otherwise
the projector resumes at the old log's offsets and silently skips the new log's first
entries (a user's whole first session, when its partition was busier before).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg
from psycopg import sql

from mindhit.redis_client import connect_redis_sync
from tests.support.servers import free_port

__all__ = [
    "E2E_DIR",
    "Pipeline",
    "forget_old_log",
    "free_port",
    "run_node",
    "running_pipeline",
]

E2E_DIR = Path(__file__).parent
COMPONENTS = ("gateway", "processors", "projector", "web")
LOG_POSITION_TABLES = ("projection_checkpoints", "event_log", "derived_log", "derivations")
"""What the database knows of a log: cleared when a pipeline with a new log starts."""


def forget_old_log(database_url: str) -> None:
    """Clear the database's positions in (and copies of) a previous pipeline's log."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for table in LOG_POSITION_TABLES:
            conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))


_PENDING = (
    "SELECT EXISTS (SELECT 1 FROM overview_changes)"
    " OR EXISTS (SELECT 1 FROM overview_change_refs)"  # both kinds (migration 271)
)


def wait_overview_drained(database_url: str, timeout_s: float = 60.0) -> None:
    """Wait until the projector's overview drainer left no change pending: the overview's
    rollups and the search's titles trail the timeline by that drain."""
    deadline = time.monotonic() + timeout_s
    with psycopg.connect(database_url, autocommit=True) as conn:
        while conn.execute(_PENDING).fetchone() != (False,):
            if time.monotonic() > deadline:
                raise TimeoutError(f"overview changes still pending after {timeout_s}s")
            time.sleep(0.2)


@dataclass
class Pipeline:
    """Running components and how to reach them."""

    env: dict[str, str]
    logs: Path
    gateway_url: str
    web_url: str
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _files: list[IO[bytes]] = field(default_factory=list)

    @classmethod
    def configure(
        cls,
        *,
        redis_url: str,
        database_url: str,
        key_prefix: str,
        data_dir: Path,
        logs: Path,
        admin_emails: str = "",
    ) -> Pipeline:
        """Settings for a private pipeline (nothing started yet)."""
        ports = {name: free_port() for name in COMPONENTS}
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINDHIT_")}
        env.update(
            {
                "MINDHIT_REDIS_URL": redis_url,
                "MINDHIT_DATABASE_URL": database_url,
                "MINDHIT_KEY_PREFIX": key_prefix,
                "MINDHIT_PARTITIONS": "4",
                "MINDHIT_DATA_DIR": str(data_dir),
                "MINDHIT_GATEWAY_PORT": str(ports["gateway"]),
                "MINDHIT_PROCESSORS_PORT": str(ports["processors"]),
                "MINDHIT_PROJECTOR_PORT": str(ports["projector"]),
                "MINDHIT_WEB_PORT": str(ports["web"]),
                # the internal metrics listeners: off (fixed ports would collide across runs)
                "MINDHIT_GATEWAY_METRICS_PORT": "0",
                "MINDHIT_WEB_METRICS_PORT": "0",
                "MINDHIT_PUBLIC_URL": f"http://127.0.0.1:{ports['web']}",
                "MINDHIT_SECRET_KEY": "e2e-secret",
                "MINDHIT_LOG_FORMAT": "json",
                "MINDHIT_COMMIT_INTERVAL_S": "0.2",
                "MINDHIT_TOKEN_CACHE_SECONDS": "0",
                "MINDHIT_ADMIN_EMAILS": admin_emails,
            }
        )
        logs.mkdir(parents=True, exist_ok=True)
        return cls(
            env=env,
            logs=logs,
            gateway_url=f"http://127.0.0.1:{ports['gateway']}",
            web_url=f"http://127.0.0.1:{ports['web']}",
        )

    def start(self, *, timeout_s: float = 60.0) -> None:
        """Start every component and wait until the gateway and dashboard answer.

        The database's positions in an older log are cleared first (see the module doc).
        """
        forget_old_log(self.env["MINDHIT_DATABASE_URL"])
        for name in COMPONENTS:
            out = (self.logs / f"{name}.log").open("wb")
            self._files.append(out)
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", "mindhit.cli", name],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        for url in (f"{self.gateway_url}/healthz", f"{self.web_url}/healthz"):
            while True:
                self._check_alive()
                try:
                    if httpx.get(url, timeout=1.0).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} did not answer; see {self.logs}")
                time.sleep(0.2)

    def _check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                log = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log}")

    def stop(self) -> None:
        """Terminate every component (SIGTERM, SIGKILL after 10 s)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        for out in self._files:
            out.close()

    def mindhit(self, *args: str, timeout_s: float = 120.0) -> str:
        """Run a ``mindhit`` command with the pipeline's settings; return its stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "mindhit.cli", *args],
            env=self.env,
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"mindhit {' '.join(args)} failed:\n{done.stderr.decode()[-3000:]}")
        return done.stdout.decode()


@contextmanager
def running_pipeline(
    *,
    redis_url: str,
    database_url: str,
    data_dir: Path,
    logs: Path,
    admin_emails: str = "",
    extra_env: dict[str, str] | None = None,
) -> Iterator[Pipeline]:
    """A started pipeline with a key prefix of its own; stopped and its keys deleted after."""
    prefix = f"mhe2e-{uuid.uuid4().hex[:8]}"
    running = Pipeline.configure(
        redis_url=redis_url,
        database_url=database_url,
        key_prefix=prefix,
        data_dir=data_dir,
        logs=logs,
        admin_emails=admin_emails,
    )
    running.env.update(extra_env or {})
    try:
        running.start()
        yield running
    finally:
        running.stop()
        client = connect_redis_sync(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        client.close()


class _QuietPages(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def serve_pages(root: Path, pages: Mapping[str, str]) -> Iterator[str]:
    """Serve ``pages`` (file name to HTML) from ``root`` over local HTTP; yield the base URL."""
    root.mkdir(parents=True, exist_ok=True)
    for name, html in pages.items():
        (root / name).write_text(html, encoding="utf-8")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietPages, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_node(script: str, *args: str, timeout_s: float = 180.0) -> dict[str, Any]:
    """Run ``node tests/e2e/<script>`` and return the JSON object it printed last."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed (Node 20 is required for browser tests)")
    if not (E2E_DIR / "node_modules" / "playwright-core").is_dir():
        raise RuntimeError("tests/e2e/node_modules missing: run scripts/build-web.sh")
    done = subprocess.run(
        [node, str(E2E_DIR / script), *args],
        capture_output=True,
        timeout=timeout_s,
        check=False,
        cwd=E2E_DIR,
    )
    lines = [line for line in done.stdout.decode().splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(
            f"{script} printed no JSON (exit {done.returncode}):\n"
            f"{done.stdout.decode()[-2000:]}\n{done.stderr.decode()[-3000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result
