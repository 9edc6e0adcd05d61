"""One MindHit command (``gateway``, ``web``, ``processors``) as a child process for tests.

:class:`ServiceProcess` runs ``python -m mindhit.cli COMMAND`` on a free loopback port
with a given environment, waits until a readiness path answers 200, keeps the output
in a log file under ``test-artifacts/security``, and on stop drops the Redis keys of
its prefix. The gateway and dashboard helpers build on it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Self

import httpx

from mindhit.redis_client import connect_redis_sync
from tests.support.servers import free_port

__all__ = ["ARTIFACTS", "ROOT", "ServiceProcess"]

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "security"


class ServiceProcess:
    """``mindhit COMMAND`` on a free port, ready once ``ready_path`` answers 200."""

    ready_path = "/readyz"

    def __init__(self, command: str, prefix: str, redis_url: str, env: dict[str, str]) -> None:
        self.command = command
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.prefix = prefix
        self.redis_url = redis_url
        self.env = env
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.log = ARTIFACTS / f"{command}-{prefix}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> Self:
        """Start and wait until ``ready_path`` answers 200."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mindhit.cli", self.command, "--host", "127.0.0.1",
             "--port", str(self.port)],
            env=self.env,
            cwd=ROOT,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mindhit {self.command} exited:\n{self.log_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}{self.ready_path}", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"mindhit {self.command} did not answer; see {self.log}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM (SIGKILL after 15 s) and drop the server's Redis keys."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        client = connect_redis_sync(self.redis_url)
        keys = list(client.scan_iter(match=f"{self.prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()

    def log_text(self) -> str:
        """Everything the server wrote so far."""
        return self.log.read_text(errors="replace")
