"""A private Redis Cluster for tests: three masters from Debian's ``redis-server``.

:class:`PrivateRedisCluster` starts three ``redis-server --cluster-enabled yes`` nodes on
loopback ports (each with its own directory and an explicit cluster-bus port, so no
``port + 10000`` is assumed free), joins them with ``redis-cli --cluster create`` (no
replicas unless asked for), and waits until every node reports ``cluster_state:ok``
(and every master has its replicas online). Ports are chosen free at run time unless
a base port is given (from there: one client port per node, then one bus port per
node), e.g. a developer's own port range.
Nothing is persisted (``--save ''``, no AOF); :meth:`stop` ends the nodes.
:meth:`move_slot` reshards one slot to another master while clients run (``MOVED`` and
``ASK`` replies), the way ``redis-cli --cluster reshard`` moves each of its slots.
:meth:`kill` and :meth:`restart` crash a node and bring it back (a replaced master
rejoins as its replica's replica, :meth:`wait_replica`); :meth:`masters` follows
failovers.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
import redis.asyncio as aioredis

from mindhit.leases import Leases
from tests.support.servers import free_port

__all__ = ["PrivateRedisCluster"]

MASTERS = 3


class PrivateRedisCluster:
    """Three cluster-enabled ``redis-server`` masters joined into one cluster."""

    def __init__(
        self,
        directory: Path | None = None,
        *,
        port_base: int | None = None,
        replicas: int = 0,
        node_timeout_ms: int = 5000,
    ) -> None:
        """``port_base``: fixed ports from there on (two per node); ``None``: free ones.

        ``replicas``: replicas per master (``WAIT`` tests), ``3 * (1 + replicas)`` nodes.
        ``node_timeout_ms``: how long a master may be unreachable before its replica takes over.
        """
        self.directory = directory or Path(tempfile.mkdtemp(prefix="mindhit-cluster-"))
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        nodes = MASTERS * (1 + replicas)
        if port_base is None:
            ports = [free_port() for _ in range(2 * nodes)]
        else:
            ports = list(range(port_base, port_base + 2 * nodes))
        self.ports, self.bus_ports = ports[:nodes], ports[nodes:]
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """The URL that makes :func:`mindhit.redis_client.connect_redis` a cluster client."""
        return f"redis+cluster://127.0.0.1:{self.ports[0]}/0"

    @property
    def seed_url(self) -> str:
        """A URL naming every master as a seed node (the first is :attr:`url`'s node)."""
        seeds = ",".join(f"127.0.0.1:{port}" for port in self.ports[:MASTERS])
        return f"redis+cluster://{seeds}/0"

    def start(self, timeout: float = 30.0) -> None:
        """Start the nodes, create the cluster, and wait until every node serves every slot."""
        binary, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        assert binary and cli, "redis-server and redis-cli are required (apt-get install redis)"
        deadline = time.monotonic() + timeout
        try:
            for port, bus in zip(self.ports, self.bus_ports, strict=True):
                self.processes.append(self._start_node(binary, port, bus))
            for port in self.ports:
                self._wait(port, deadline, lambda c: bool(c.ping()))
            nodes = [f"127.0.0.1:{p}" for p in self.ports]
            create = [
                cli,
                "--cluster",
                "create",
                *nodes,
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ]
            left = max(1.0, deadline - time.monotonic())
            subprocess.run(create, check=True, stdout=subprocess.DEVNULL, timeout=left)
            for port in self.ports:
                self._wait(port, deadline, _serves_all_slots)
            for port in self.ports[:MASTERS]:  # `--cluster create` makes the first ones masters
                self._wait(port, deadline, lambda c: _replicas_online(c) >= self.replicas)
        except BaseException:
            self.stop()
            raise

    def _start_node(self, binary: str, port: int, bus: int) -> subprocess.Popen[bytes]:
        node_dir = self.directory / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        args = [
            *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir)),
            *("--cluster-enabled", "yes", "--cluster-port", str(bus)),
            *("--cluster-config-file", "nodes.conf"),
            *("--cluster-node-timeout", str(self.node_timeout_ms)),
            *("--save", "", "--appendonly", "no", "--logfile", str(node_dir / "redis.log")),
        ]
        return subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL)

    @staticmethod
    def _wait(port: int, deadline: float, ready: Callable[[redis.Redis], bool]) -> None:
        client = redis.Redis(port=port, socket_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                try:
                    if ready(client):
                        return
                except redis.exceptions.ConnectionError:
                    pass
                time.sleep(0.05)
        finally:
            client.close()
        raise RuntimeError(f"redis cluster node 127.0.0.1:{port} did not become ready")

    def owner(self, slot: int) -> int:
        """The client port of the master that serves ``slot``."""
        port = self.owner_or_none(slot)
        if port is None:
            raise LookupError(f"slot {slot} is not served")
        return port

    def owner_or_none(self, slot: int) -> int | None:
        """The port of ``slot``'s master as the first live node sees it (``None``: not served)."""
        for port, process in zip(self.ports, self.processes, strict=False):
            if process.poll() is not None:
                continue
            client = redis.Redis(port=port, socket_timeout=1)
            try:
                for start, end, master, *_ in client.execute_command("CLUSTER", "SLOTS"):
                    if start <= slot <= end:
                        return int(master[1])
                return None
            finally:
                client.close()
        return None

    def masters(self) -> list[int]:
        """The client ports of the masters serving slots now (after failovers too)."""
        for port, process in zip(self.ports, self.processes, strict=False):
            if process.poll() is not None:
                continue
            client = redis.Redis(port=port, socket_timeout=1)
            try:
                slots = client.execute_command("CLUSTER", "SLOTS")
            finally:
                client.close()
            return sorted({int(master[1]) for _, _, master, *_ in slots})
        raise LookupError("no node runs")

    def wait_failover(self, dead: int, timeout: float = 20.0) -> None:
        """Wait until the live nodes serve every slot, none of them from ``dead``."""
        deadline = time.monotonic() + timeout
        live = [
            p for p, proc in zip(self.ports, self.processes, strict=False) if proc.poll() is None
        ]
        for port in live:
            self._wait(port, deadline, lambda c: _serves_all_slots(c) and dead not in _owners(c))

    def wait_replica(self, port: int, timeout: float = 20.0) -> None:
        """Wait until the node on ``port`` is a replica in sync with its master."""
        deadline = time.monotonic() + timeout

        def synced(client: redis.Redis) -> bool:
            info = client.info("replication")
            return info.get("role") == "slave" and info.get("master_link_status") == "up"

        self._wait(port, deadline, synced)

    def wait_replicated(self, master: int, timeout: float = 20.0) -> None:
        """Wait until every replica of the master on ``master`` acknowledged all its writes.

        Replication is asynchronous: a master killed (:meth:`kill`) right after a write is
        replaced by a replica that may lack it, and the write is lost (what
        ``MINDHIT_WAIT_REPLICAS`` guards against). Just after :meth:`start` the window is
        up to a second even for a replica reported online: after a diskless full sync the
        master streams nothing to it until the replica's first ``REPLCONF ACK``, sent once
        a second. A test that kills a master and expects the writes it made before to
        survive calls this first.
        """
        deadline = time.monotonic() + timeout

        def caught_up(client: redis.Redis) -> bool:
            info = client.info("replication")
            offsets = [
                int(value.get("offset", -1))
                for name, value in info.items()
                if name.startswith("slave") and isinstance(value, dict)
                and value.get("state") == "online"
            ]  # fmt: skip
            return len(offsets) >= self.replicas and all(
                offset >= int(info["master_repl_offset"]) for offset in offsets
            )

        self._wait(master, deadline, caught_up)

    def move_slot(self, slot: int, to_port: int, *, pause: float = 0.0, finish: bool = True) -> int:
        """Move ``slot`` with its keys to the master on ``to_port``; return the keys moved.

        The steps of ``redis-cli --cluster reshard`` for one slot: the target imports and
        the source migrates it (a client then gets ``ASK`` for keys already moved and
        ``TRYAGAIN`` for a command over moved and unmoved keys), ``MIGRATE`` one key at a
        time (``pause`` seconds after each, to keep clients in that state longer), then
        every master is told the new owner (``MOVED`` from then on). With ``finish=False``
        the slot is left migrating, all its keys moved (``ASK``), until :meth:`assign_slot`.
        """
        from_port = self.owner(slot)
        if from_port == to_port:
            return 0
        masters = {port: redis.Redis(port=port) for port in self.masters()}
        try:
            source, target = masters[from_port], masters[to_port]
            target_id = _text(target.execute_command("CLUSTER", "MYID"))
            source_id = _text(source.execute_command("CLUSTER", "MYID"))
            target.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
            source.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
            moved = 0
            while keys := source.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1):
                source.execute_command("MIGRATE", "127.0.0.1", to_port, "", 0, 5000, "KEYS", *keys)
                moved += len(keys)
                time.sleep(pause)
            if finish:
                self.assign_slot(slot, to_port)
            return moved
        finally:
            for client in masters.values():
                client.close()

    def assign_slot(self, slot: int, to_port: int) -> None:
        """Tell every master that the master on ``to_port`` serves ``slot`` (target first)."""
        ports = [to_port, *(p for p in self.masters() if p != to_port)]
        clients = [redis.Redis(port=port) for port in ports]
        try:
            target_id = _text(clients[0].execute_command("CLUSTER", "MYID"))
            for client in clients:
                client.execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)
        finally:
            for client in clients:
                client.close()

    @contextmanager
    def frozen(self, port: int) -> Iterator[None]:
        """The node on ``port`` stopped (SIGSTOP) for the block: it keeps its connections
        open and answers nothing, as a paused VM does."""
        process = self.processes[self.ports.index(port)]
        process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            process.send_signal(signal.SIGCONT)

    @contextmanager
    def replica_paused(self, master_port: int) -> Iterator[None]:
        """The replica of the master on ``master_port`` stopped (SIGSTOP) for the block."""
        client = redis.Redis(port=master_port)
        try:
            replica = int(client.info("replication")["slave0"]["port"])
        finally:
            client.close()
        with self.frozen(replica):
            yield

    def kill(self, port: int) -> None:
        """``kill -9`` the node on ``port`` (its replica takes over after the node timeout)."""
        process = self.processes[self.ports.index(port)]
        process.kill()
        process.wait(10)

    def restart(self, port: int) -> None:
        """Start the killed node on ``port`` again: it rejoins (a master's replica, if it
        was replaced) with its own ``nodes.conf``."""
        binary = shutil.which("redis-server")
        assert binary
        index = self.ports.index(port)
        self.processes[index] = self._start_node(binary, port, self.bus_ports[index])

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL) and remove nothing else."""
        for proc in self.processes:
            proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.processes = []


def _replicas_online(client: redis.Redis) -> int:
    info = client.info("replication")
    return sum(
        1 for name, value in info.items()
        if name.startswith("slave") and isinstance(value, dict) and value.get("state") == "online"
    )  # fmt: skip


def _owners(client: redis.Redis) -> set[int]:
    return {int(master[1]) for _, _, master, *_ in client.execute_command("CLUSTER", "SLOTS")}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _serves_all_slots(client: redis.Redis) -> bool:
    info = client.execute_command("CLUSTER", "INFO")
    text = info.decode() if isinstance(info, bytes) else str(info)
    fields = dict(line.split(":", 1) for line in text.split() if ":" in line)
    return fields.get("cluster_state") == "ok" and fields.get("cluster_slots_ok") == "16384"


async def leases_taken_while_frozen(
    cluster: PrivateRedisCluster,
    port: int,
    rival: Leases,
    client: aioredis.Redis,
    partitions: set[int],
    seconds: float,
) -> set[int]:
    """Freeze the master on ``port`` (``SIGSTOP``) for ``seconds`` while ``rival`` tries to
    take the leases of ``partitions`` every 0.5 s (over ``client``, whose slot map must be
    known already); return the partitions it took."""
    process = cluster.processes[cluster.ports.index(port)]
    process.send_signal(signal.SIGSTOP)
    taken: set[int] = set()
    try:
        for _ in range(round(seconds / 0.5)):
            await asyncio.sleep(0.5)
            taken |= await rival.renew(client, partitions)
    finally:
        process.send_signal(signal.SIGCONT)
    return taken
