"""``mindhit up`` on a machine with nothing configured: embedded Redis and PostgreSQL.

The README's first command must work with no set-up. Here embedded servers are
forced (``MINDHIT_EMBEDDED_SERVICES=always``) because this machine also runs local
ones; everything else is what a new user gets: every component comes up and
answers ``/readyz``, CLI commands in "another terminal" reach the same embedded
servers, a session started through the gateway reaches the read tables, Ctrl-C
stops everything, and a second ``up`` finds the data again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from tests.support.servers import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COMPONENTS = ("gateway", "web", "processors", "projector")


def _env(data_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINDHIT_")}
    env |= {
        "MINDHIT_EMBEDDED_SERVICES": "always",
        "MINDHIT_DATA_DIR": str(data_dir),
        "MINDHIT_LOG_FORMAT": "console",
        "MINDHIT_PUBLIC_URL": f"http://127.0.0.1:{ports['web']}",
    }
    for name, port in ports.items():
        env[f"MINDHIT_{name.upper()}_PORT"] = str(port)
    return env


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


class Up:
    """A running ``mindhit up`` with its output in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mindhit.cli", "up"],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, ports: dict[str, int], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        pending = set(COMPONENTS)
        while pending:
            assert self.proc.poll() is None, self.said()
            assert time.monotonic() < deadline, (
                f"not ready: {pending}\n{self.log.read_text()[-3000:]}"
            )
            pending = {c for c in pending if _status(f"http://127.0.0.1:{ports[c]}/readyz") != 200}
            time.sleep(0.5)

    def said(self) -> str:
        """What ``up`` printed: its errors first (an embedded server's failed command
        prints its stderr long before the traceback), then the end."""
        lines = self.log.read_text(errors="replace").splitlines()
        errors = [i for i, line in enumerate(lines) if "error" in line.lower()]
        first = lines[errors[0] : errors[0] + 40] if errors else []
        return "\n".join([*first, "...", *lines[-40:]])[-8000:]

    def interrupt(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        return self.proc.wait(60)


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mindhit.cli", *args], env=env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_up_runs_everything_on_embedded_services_and_keeps_data_across_restarts(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    ports = {c: free_port() for c in COMPONENTS}
    env = _env(data_dir, ports)
    up = Up(env, tmp_path / "up.log")
    try:
        up.wait_ready(ports)
        record = json.loads((data_dir / "services.json").read_text())
        assert str(data_dir) in record["database_url"]  # embedded PostgreSQL, not the local one
        assert not record["redis_url"].endswith(":6379/0")  # embedded Redis, not the local one

        # "another terminal": the CLI finds the running embedded servers
        _cli(env, "user", "create", "newcomer@example.org")
        token = _cli(env, "token", "create", "--user", "newcomer@example.org", "--device", "laptop")
        request = urllib.request.Request(
            f"http://127.0.0.1:{ports['gateway']}/v1/sessions",
            data=b"{}",
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            session_id = json.loads(answer.read())["session_id"]
        deadline = time.monotonic() + 60
        with psycopg.connect(record["database_url"], autocommit=True) as conn:
            while not conn.execute(
                "SELECT 1 FROM sessions WHERE session_id = %s", (session_id,)
            ).fetchone():
                assert time.monotonic() < deadline, "the session never reached the read tables"
                time.sleep(0.3)
    finally:
        code = up.interrupt()
    assert code == 0, up.log.read_text()[-3000:]
    assert not (data_dir / "services.json").exists()

    again = Up(env, tmp_path / "up-again.log")
    try:
        again.wait_ready(ports)
        record = json.loads((data_dir / "services.json").read_text())
        with psycopg.connect(record["database_url"], autocommit=True) as conn:
            assert conn.execute(
                "SELECT count(*) FROM sessions WHERE session_id = %s", (session_id,)
            ).fetchone() == (1,)
    finally:
        assert again.interrupt() == 0
