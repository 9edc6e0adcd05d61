"""The chaos soak's faults: a seeded schedule and the code that inflicts it on a :class:`Stack`.

:func:`plan` spreads over the run, with a fixed seed: ``kill -9`` of the gateway,
the processors and the projector (each at least twice, about once a minute each),
clean restarts of Redis (it fsyncs its append-only file on the way down) and
crash restarts of PostgreSQL (immediate shutdown; it recovers from its WAL), at
least once each and about every five minutes, and pauses (the processors in a short
run, both the processors and the projector from two minutes on): a component is stopped
(SIGSTOP) past the processors' group lease, a replacement is started and becomes
healthy, then the old process resumes — a zombie that must not write anything
that counts — and is killed a few seconds later.

:class:`Injector` runs the plan in order (a fault never starts before the previous
one's component is healthy again), counting kills, restarts and pauses. With several
replicas of a component (``bench/chaos.py --processors 2 --projectors 2``) a kill or a
pause hits one of them, chosen with the injector's own seeded generator (so the
schedule is the same as with one replica).

On Redis Cluster (``bench/chaos.py --redis cluster``) :func:`cluster_plan` adds to kills
of the processors and the projector the cluster's own faults: every partition's slot
resharded to another master (``reshard``: the steps of ``redis-cli --cluster reshard``,
``MIGRATE`` key by key with a pause after each, so clients meet ``ASK`` and ``TRYAGAIN``
for a while, then ``MOVED``), and a ``failover`` of the node every component was given in
its URL (``kill -9``; its replica takes over; it is started again and rejoins as a
replica) — the clients must find the cluster through the other nodes.
"""

from __future__ import annotations

import asyncio
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.crc import key_slot

from schema.topics import RAW_TOPIC, stream_key
from tests.support.stack import Stack

__all__ = ["LEASE_S", "Fault", "Injector", "cluster_plan", "plan"]

LEASE_S = 10.0
"""The processors' group lease (``lease_ms`` default): a pause must outlast it."""
KILLED = ("gateway", "processors", "projector")
PAUSED = ("processors", "projector")


@dataclass(frozen=True)
class Fault:
    """One fault: ``kind`` (kill, restart, pause) of ``target`` at ``at`` seconds into the run."""

    at: float
    kind: str
    target: str


def plan(seconds: float, rng: random.Random) -> list[Fault]:
    """The faults of a run of ``seconds``, between 5% and 80% of it, in time order."""
    minutes = seconds / 60
    kills = max(2, round(minutes))
    every_five = max(1, round(minutes / 5))
    faults = [Fault(0, "kill", name) for name in KILLED for _ in range(kills)]
    faults += [Fault(0, "restart", "redis") for _ in range(every_five)]
    faults += [Fault(0, "restart", "postgres") for _ in range(every_five)]
    pauses = max(1 if minutes < 2 else len(PAUSED), every_five)
    faults += [Fault(0, "pause", PAUSED[i % len(PAUSED)]) for i in range(pauses)]
    rng.shuffle(faults)
    step = seconds * 0.75 / len(faults)
    return [
        Fault(round(seconds * 0.05 + i * step + rng.uniform(0, step / 2), 1), f.kind, f.target)
        for i, f in enumerate(faults)
    ]


def cluster_plan(seconds: float, rng: random.Random, partitions: int) -> list[Fault]:
    """A Redis Cluster run's faults, evenly between 5% and 80% of the run: each partition
    resharded (in a seeded order), the startup node failed over after half of them, then
    a kill of the processors and of the projector (they start again against a URL whose
    node is now a replica). A fault starts only once the previous one is over."""
    order = list(range(partitions))
    rng.shuffle(order)
    half = len(order) // 2
    faults = [Fault(0, "reshard", f"p{p}") for p in order[:half]]
    faults.append(Fault(0, "failover", "startup"))
    faults += [Fault(0, "reshard", f"p{p}") for p in order[half:]]
    faults += [Fault(0, "kill", "processors"), Fault(0, "kill", "projector")]
    step = seconds * 0.75 / len(faults)
    return [
        Fault(round(seconds * 0.05 + i * step, 1), f.kind, f.target) for i, f in enumerate(faults)
    ]


@dataclass
class Injector:
    """Inflicts a plan on a stack and counts what it did."""

    stack: Stack
    report: Callable[[str], None] = lambda line: None
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    """Chooses which replica of a component a kill or pause hits."""
    kills: int = 0
    restarts: int = 0
    pauses: int = 0
    reshards: int = 0
    failovers: int = 0
    done: list[str] = field(default_factory=list)
    found_dead: list[str] = field(default_factory=list)
    """Components a kill found already exited (a crash the kill's restart hid)."""
    _stop: threading.Event = field(default_factory=threading.Event)

    async def run(self, faults: list[Fault], started: float) -> None:
        """Inflict ``faults`` in order, each no earlier than its time after ``started``."""
        for fault in faults:
            wait = started + fault.at - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            began = time.monotonic() - started
            try:
                target = await asyncio.to_thread(self._inflict, fault)
            except BaseException:
                self._stop.set()  # interrupted: the fault under way ends early
                raise
            line = (
                f"{began:6.1f}s {fault.kind} {target} "
                f"({time.monotonic() - started - began:.1f}s to recover)"
            )
            self.done.append(line)
            self.report(line)

    def _inflict(self, fault: Fault) -> str:
        """Inflict one fault; return the name of what it hit."""
        if fault.kind == "kill":
            name = self._replica(fault.target)
            component = self.stack.components[name]
            if not component.alive():
                self.found_dead.append(name)
            component.kill()
            self.kills += 1
            component.start()
            self.restarts += 1
            component.wait_healthy()
            return name
        if fault.kind == "reshard":
            return self._reshard(int(fault.target.removeprefix("p")))
        if fault.kind == "failover":
            return self._failover()
        if fault.kind == "restart" and fault.target == "redis":
            self.stack.restart_redis()
            self.restarts += 1
        elif fault.kind == "restart":
            self.stack.restart_postgres()
            self.restarts += 1
        else:
            name = self._replica(fault.target)
            self._pause(name)
            return name
        return fault.target

    def _reshard(self, partition: int) -> str:
        """Move ``partition``'s slot (every key of the partition) to another master."""
        cluster = self.stack.cluster
        assert cluster is not None
        slot = key_slot(stream_key(self.stack.key_prefix, RAW_TOPIC, partition).encode())
        before = cluster.owner(slot)
        after = self.rng.choice([p for p in cluster.masters() if p != before])
        moved = cluster.move_slot(slot, after, pause=0.05)
        self.reshards += 1
        return f"p{partition} ({moved} keys, {before} -> {after})"

    def _failover(self) -> str:
        """``kill -9`` the node of the components' URL, wait until its replica serves its
        slots, start it again and wait until it is that replica's replica."""
        cluster = self.stack.cluster
        assert cluster is not None
        port = cluster.ports[0]
        cluster.kill(port)
        self.kills += 1
        cluster.wait_failover(port)
        self._stop.wait(2)
        cluster.restart(port)
        self.restarts += 1
        cluster.wait_replica(port)
        self.failovers += 1
        return f"node {port}"

    def _replica(self, command: str) -> str:
        names = self.stack.instances(command)
        return names[0] if len(names) == 1 else self.rng.choice(names)

    def _pause(self, name: str) -> None:
        """SIGSTOP ``name``; its replacement starts at once (as a supervisor whose probe
        failed would start one) and takes over when the lease expires; then the old
        process resumes as a zombie for a few seconds and is killed."""
        component = self.stack.components[name]
        component.signal(signal.SIGSTOP)
        paused = time.monotonic()
        zombie = component.detach()
        self.stack.zombies.append(zombie)
        component.start()
        self.restarts += 1
        component.wait_healthy()
        self._stop.wait(max(0.0, paused + LEASE_S + 3 - time.monotonic()))
        zombie.signal(signal.SIGCONT)
        self.pauses += 1
        self._stop.wait(4)
        zombie.kill()
        self.kills += 1
