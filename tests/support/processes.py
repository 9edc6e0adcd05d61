"""Running MindHit commands as real processes in tests: one environment, logs kept.

Tests that run ``mindhit <command>`` (or a test app) in a child process point it at
the test's own Redis, database and key prefix through :func:`mindhit_env`, and keep
its output in a file (:class:`LoggedProcess`) so a failure shows what the child said.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mindhit.settings import Settings

__all__ = ["ROOT", "LoggedProcess", "mindhit_env", "run_mindhit"]

ROOT = Path(__file__).resolve().parents[2]


def mindhit_env(settings: Settings, **extra: str) -> dict[str, str]:
    """This process's environment plus the MINDHIT_* variables that reach ``settings``'s
    Redis, database, key prefix and partitions (``extra`` may add or override any)."""
    return {
        **os.environ,
        "MINDHIT_REDIS_URL": settings.redis_url,
        "MINDHIT_DATABASE_URL": settings.database_url,
        "MINDHIT_KEY_PREFIX": settings.key_prefix,
        "MINDHIT_PARTITIONS": str(settings.partitions),
        "MINDHIT_LOG_FORMAT": "json",
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def run_mindhit(
    settings: Settings, *args: str, timeout: float = 120, **extra: str
) -> subprocess.CompletedProcess[str]:
    """Run ``mindhit ARGS`` to completion against the test's services; output captured."""
    return subprocess.run(
        [sys.executable, "-m", "mindhit.cli", *args],
        env=mindhit_env(settings, **extra),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class LoggedProcess:
    """A long-running child (``python -m MODULE ARGS``) whose output goes to ``log``."""

    def __init__(self, module: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env=env,
            cwd=ROOT,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def alive(self) -> bool:
        """Whether the child is still running."""
        return self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines the child wrote."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
