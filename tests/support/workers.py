"""What a test process may call its own when the suite runs on several processes.

``make test`` runs the Python tests on every core with pytest-xdist (``-n``). Each
worker process is one whole test run as far as the services are concerned: its own
database, its own Redis key prefix and its own slice of the port range, so two workers
never drop each other's database, read each other's keys or race for a port between
``free_port()`` and a server binding it. Outside xdist (one process) nothing changes.
Processes a test starts inherit ``PYTEST_XDIST_WORKER`` and so read the same names.
"""

from __future__ import annotations

import os

__all__ = ["test_database_name", "test_key_prefix", "worker_port_base", "worker_port_span"]


def _worker() -> tuple[str, int, int]:
    """This process's xdist worker id, index and the number of workers (``''``, 0, 1 alone)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return "", 0, 1
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return worker, int(worker[2:]), max(count, 1)


def test_database_name() -> str:
    """``MINDHIT_TEST_DB`` (default ``mindhit_test``), with the worker id under xdist."""
    worker, _, _ = _worker()
    name = os.environ.get("MINDHIT_TEST_DB", "mindhit_test")
    return f"{name}_{worker}" if worker else name


def test_key_prefix() -> str:
    """``MINDHIT_TEST_KEY_PREFIX`` (default ``mhtest``), with the worker id under xdist."""
    worker, _, _ = _worker()
    prefix = os.environ.get("MINDHIT_TEST_KEY_PREFIX", "mhtest")
    return f"{prefix}{worker}"


def worker_port_span(first: int, last: int) -> tuple[int, int]:
    """This worker's equal share of the ports ``first``..``last`` (all of them alone)."""
    _, index, count = _worker()
    size = (last - first + 1) // count
    if size < 20:
        raise RuntimeError(f"ports {first}-{last} are too few for {count} test workers")
    start = first + index * size
    return start, start + size - 1


def worker_port_base(base: int, width: int) -> int:
    """The first of ``width`` fixed ports for this worker, from ``base`` for the first."""
    _, index, _ = _worker()
    return base + index * width
