"""A private PostgreSQL 15 a fault test may crash and restart: its own data directory and port.

Fault tests never touch the shared PostgreSQL on 5432. This one runs Debian's
PostgreSQL 15 binaries (``/usr/lib/postgresql/15/bin``) on a free loopback port,
with its socket and data under a directory of the caller's, and the postmaster as
this process's own child, so stopping it is a signal, not a service manager:
``stop("fast")`` is a clean shutdown, ``stop("immediate")`` a crash (every committed
transaction survives it: WAL is fsynced at commit). As root, the server runs as the
``postgres`` system user (PostgreSQL refuses to run as root), so every directory
above ``directory`` must be searchable by others.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Literal

import psycopg

from tests.support.servers import free_port

__all__ = ["PG_BIN", "PrivatePostgres"]

PG_BIN = Path(os.environ.get("MINDHIT_PG_BIN", "/usr/lib/postgresql/15/bin"))
_SIGNALS = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def _as_postgres() -> list[str]:
    """The command prefix that drops root to the ``postgres`` user (nothing otherwise)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(path, user.pw_uid, user.pw_gid)


class PrivatePostgres:
    """A PostgreSQL server under ``directory`` on its own port (trust auth, user postgres)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.socket_dir = directory / "socket"
        self.log = directory / "postgres.log"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, database: str = "postgres") -> str:
        """The URL of ``database`` on this server."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        """Create the cluster (``initdb``, no fsync of the fresh files: it is throwaway)."""
        for path in (self.directory, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            _chown(path)
        subprocess.run(
            [*_as_postgres(), str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres",
             "--auth=trust", "-E", "UTF8", "--no-sync"],
            check=True, capture_output=True,
        )  # fmt: skip

    def start(self, timeout: float = 60.0) -> None:
        """Start the postmaster and wait until it accepts connections (after any recovery)."""
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [*_as_postgres(), str(PG_BIN / "postgres"), "-D", str(self.data),
             "-p", str(self.port), "-k", str(self.socket_dir),
             "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log.read_text()[-2000:]}")
            try:
                psycopg.connect(self.url(), connect_timeout=1).close()
                return
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise RuntimeError("private postgres did not start")

    def stop(self, mode: Literal["smart", "fast", "immediate"] = "fast") -> None:
        """Shut the server down: ``fast`` cleanly, ``immediate`` as a crash would."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(_SIGNALS[mode])
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def remove(self) -> None:
        """Stop the server (crash-fast) and delete its files."""
        self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)
