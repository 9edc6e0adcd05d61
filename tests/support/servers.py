"""Private servers for fault tests: a free loopback port and a redis-server a test may kill.

Fault tests never touch the shared Redis on 6379 (other tests use it); they start
their own server here, on a free port, with an append-only file so a restart keeps
what was acknowledged.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from tests.support.workers import worker_port_span

__all__ = [
    "PrivateRedis",
    "attach_replica",
    "free_port",
    "reattach_replica",
    "wait_replica_online",
]


_HANDED_OUT: dict[int, float] = {}
"""Ports given out within a range, with when: none is given again for a minute (a server
binds its port within that, and a stopped one frees it for later tests)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    ``MINDHIT_TEST_PORTS=FIRST-LAST`` keeps the ports given out (to private Redis servers
    and clusters, to the services tests start) within that range, one port not twice
    within a minute (several helpers sharing a machine each get their own range; the test
    workers of one run each take an equal share of it). Unset,
    the range lies below the kernel's ephemeral ports: a port the system picked for us
    there could be taken as the local end of some client's connection before our server
    binds it (a private Redis then failed to start, once, in CI).
    """
    span = os.environ.get("MINDHIT_TEST_PORTS") or _below_ephemeral_ports()
    first, _, last = span.partition("-")
    low, high = worker_port_span(int(first), int(last))  # under xdist, this worker's share
    recent = time.monotonic() - 60
    candidates = [p for p in range(low, high + 1) if _HANDED_OUT.get(p, 0) < recent]
    random.shuffle(candidates)
    for port in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT[port] = time.monotonic()
        return port
    raise RuntimeError(f"no free port left in {low}-{high} (MINDHIT_TEST_PORTS={span})")


def _below_ephemeral_ports() -> str:
    """``FIRST-LAST`` of the ports under the kernel's ephemeral range (10000 up)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return f"10000-{max(low - 1, 10999)}"


class PrivateRedis:
    """A redis-server this test starts, stops, kills and restarts on one port."""

    def __init__(
        self, directory: Path | None = None, *, appendonly: bool = True, fsync: str = "always"
    ) -> None:
        """``fsync`` is the AOF's ``appendfsync`` (``everysec`` is what production runs)."""
        self.port = free_port()
        self.directory = directory or Path(tempfile.mkdtemp(prefix="mindhit-redis-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.appendonly = appendonly
        self.fsync = fsync
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        """Where the server writes its log (read when it fails to start)."""
        return self.directory / "redis-server.log"

    @property
    def url(self) -> str:
        """The server's URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers (after loading its append-only file)."""
        binary = shutil.which("redis-server")
        assert binary, "redis-server is required (apt-get install redis-server)"
        durability = (
            ["--appendonly", "yes", "--appendfsync", self.fsync]
            if self.appendonly
            else ["--appendonly", "no"]
        )
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--dir", str(self.directory), *durability],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        client = redis.Redis(port=self.port, socket_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                try:
                    client.ping()
                    return
                except redis.exceptions.ConnectionError:
                    time.sleep(0.05)
        finally:
            client.close()
        tail = self.log.read_text(errors="replace").splitlines()[-5:]
        raise RuntimeError(f"private redis-server did not start on {self.port}: {tail}")

    def stop(self) -> None:
        """Stop the server cleanly (SIGTERM)."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """Kill the server as a crash would (SIGKILL)."""
        self._end(signal.SIGKILL)

    def _end(self, sig: signal.Signals) -> None:
        if self.process is not None:
            self.process.send_signal(sig)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:  # a shutdown stuck on a lost peer
                self.process.kill()
                self.process.wait(10)
            self.process = None


def attach_replica(
    primary: PrivateRedis, directory: Path, *, appendonly: bool = True
) -> PrivateRedis:
    """Start a redis-server in ``directory`` replicating ``primary``, once it is online."""
    replica = PrivateRedis(directory, appendonly=appendonly)
    replica.start()
    reattach_replica(primary, replica)
    return replica


def reattach_replica(primary: PrivateRedis, replica: PrivateRedis) -> None:
    """Make the running ``replica`` replicate ``primary`` again and wait until it is online."""
    for server, command in (
        (primary, ("CONFIG", "SET", "repl-diskless-sync-delay", "0")),  # sync at once, not in 5 s
        (replica, ("REPLICAOF", "127.0.0.1", str(primary.port))),
    ):
        control = redis.Redis(port=server.port)
        try:
            control.execute_command(*command)
        finally:
            control.close()
    wait_replica_online(primary)


def wait_replica_online(primary: PrivateRedis, timeout: float = 10.0) -> None:
    """Wait until ``primary`` reports its first replica ``online``."""
    client = redis.Redis(port=primary.port)
    deadline = time.monotonic() + timeout
    try:
        while client.info("replication").get("slave0", {}).get("state") != "online":
            assert time.monotonic() < deadline, "the replica did not come online"
            time.sleep(0.05)
    finally:
        client.close()
