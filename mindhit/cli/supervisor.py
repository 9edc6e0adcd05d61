"""``mindhit up``: run every component as a child process, supervised, with readable output.

Steps: resolve Redis/PostgreSQL (configured, local or embedded); apply migrations;
start each component as ``python -m mindhit.cli <component>`` with the resolved
URLs in its environment; prefix every output line with the component's name;
restart a component that dies (with backoff); on Ctrl-C or SIGTERM stop them all
(SIGTERM, then SIGKILL after a grace period) and the embedded servers last.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from rich.console import Console

from mindhit.db import apply_migrations
from mindhit.services import resolve_services
from mindhit.settings import Settings

__all__ = ["run_up"]

_COLOURS = {"gateway": "cyan", "processors": "magenta", "projector": "yellow", "web": "green"}
_GRACE_S = 10.0
_MAX_BACKOFF_S = 30.0


@dataclass
class _Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    buffer: bytes = field(default=b"")


def run_up(settings: Settings, components: list[str]) -> int:
    """Run ``components`` until interrupted; return the exit status."""
    console = Console(stderr=True, highlight=False)
    services = resolve_services(settings)
    services.record(settings.data_path)
    console.print(f"[bold]MindHit[/] redis={services.redis_url} database={services.database_url}")
    try:
        applied = apply_migrations(services.database_url)
        if applied:
            console.print(f"applied migrations: {', '.join(applied)}")
        env = dict(os.environ)
        env["MINDHIT_REDIS_URL"] = services.redis_url
        env["MINDHIT_DATABASE_URL"] = services.database_url
        env.setdefault("MINDHIT_LOG_FORMAT", "console")
        children = [
            _Child(name, [sys.executable, "-m", "mindhit.cli", name]) for name in components
        ]
        console.print(
            f"dashboard: {settings.public_url}  gateway: "
            f"http://{settings.gateway_host}:{settings.gateway_port}  (Ctrl-C stops)"
        )
        return _supervise(children, env, console)
    finally:
        services.stop()


def _supervise(children: list[_Child], env: dict[str, str], console: Console) -> int:
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    selector = selectors.DefaultSelector()
    try:
        while not stopping:
            now = time.monotonic()
            for child in children:
                if child.proc is None and now >= child.next_start:
                    _start(child, env, selector, console)
                elif child.proc is not None and child.proc.poll() is not None:
                    code = child.proc.returncode
                    _drain(child, selector, console)
                    child.proc = None
                    child.restarts += 1
                    delay = min(_MAX_BACKOFF_S, 0.5 * 2 ** min(child.restarts, 6))
                    child.next_start = now + delay
                    console.print(
                        f"[red]{child.name} exited ({code}); restarting in {delay:.1f}s[/]"
                    )
            for key, _ in selector.select(timeout=0.2):
                _pump(key.data, selector, console)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_all(children, selector, console)
    return 0


def _start(
    child: _Child, env: dict[str, str], sel: selectors.BaseSelector, console: Console
) -> None:
    child.proc = subprocess.Popen(
        child.argv,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert child.proc.stdout is not None
    os.set_blocking(child.proc.stdout.fileno(), False)
    sel.register(child.proc.stdout, selectors.EVENT_READ, child)
    console.print(
        f"[{_COLOURS.get(child.name, 'white')}]{child.name}[/] started (pid {child.proc.pid})"
    )


def _pump(child: _Child, sel: selectors.BaseSelector, console: Console) -> None:
    assert child.proc is not None and child.proc.stdout is not None
    try:
        chunk = child.proc.stdout.read()
    except (BlockingIOError, ValueError):
        return
    if not chunk:
        sel.unregister(child.proc.stdout)
        return
    child.buffer += chunk
    *lines, child.buffer = child.buffer.split(b"\n")
    colour = _COLOURS.get(child.name, "white")
    for line in lines:
        console.print(f"[{colour}]{child.name:>10}[/] │ ", end="")
        console.out(line.decode(errors="replace"), highlight=False)


def _drain(child: _Child, sel: selectors.BaseSelector, console: Console) -> None:
    if child.proc is not None and child.proc.stdout is not None:
        try:
            _pump(child, sel, console)
            sel.unregister(child.proc.stdout)
        except (KeyError, ValueError):
            pass


def _stop_all(children: list[_Child], sel: selectors.BaseSelector, console: Console) -> None:
    running = [c for c in children if c.proc is not None and c.proc.poll() is None]
    for child in running:
        assert child.proc is not None
        child.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + _GRACE_S
    for child in running:
        assert child.proc is not None
        try:
            child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.proc.kill()
            child.proc.wait()
        _drain(child, sel, console)
    console.print("stopped")
