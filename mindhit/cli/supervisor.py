"""``mindhit up``: run every component as a child process, supervised, with readable output.

Steps: resolve Redis/PostgreSQL (configured, local or embedded); apply migrations;
start each component as ``python -m mindhit.cli <component>`` with the resolved
URLs in its environment; print one ready line per component once its health check
answers, then only warnings and requests (:mod:`mindhit.up_output`; everything with
``MINDHIT_LOG_LEVEL=debug``), prefixed with the component's name;
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
import urllib.request
from dataclasses import dataclass, field

from rich.console import Console

from mindhit.db import apply_migrations
from mindhit.services import resolve_services
from mindhit.settings import Settings
from mindhit.up_output import OutputFilter

__all__ = ["run_up"]

_COLOURS = {"gateway": "cyan", "processors": "magenta", "projector": "yellow", "web": "green"}
_GRACE_S = 10.0
_MAX_BACKOFF_S = 30.0
_HEALTH_EVERY_S = 0.5


@dataclass
class _Child:
    name: str
    argv: list[str]
    health_url: str = ""
    ready_note: str = ""
    output: OutputFilter = field(default_factory=lambda: OutputFilter(debug=False))
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    next_check: float = 0.0
    buffer: bytes = field(default=b"")


def _loopback(host: str) -> str:
    return "127.0.0.1" if host in {"", "0.0.0.0", "::"} else host


def _health(settings: Settings, name: str) -> tuple[str, str]:
    """The component's health URL and what its ready line tells the user."""
    host = _loopback(getattr(settings, f"{name}_host", "127.0.0.1"))
    port = getattr(settings, f"{name}_port", 0)
    url = f"http://{host}:{port}/healthz" if port else ""
    note = {
        "web": f" — dashboard at {settings.public_url}",
        "gateway": f" — uploads to http://{host}:{port}/v1/events",
    }.get(name, "")
    return url, note


def _children(settings: Settings, components: list[str]) -> list[_Child]:
    debug = settings.log_level == "debug"
    children = []
    for name in components:
        url, note = _health(settings, name)
        children.append(
            _Child(
                name,
                [sys.executable, "-m", "mindhit.cli", name],
                health_url=url,
                ready_note=note,
                output=OutputFilter(debug=debug),
            )
        )
    return children


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
        if settings.log_level == "debug":
            env.setdefault("MINDHIT_LOG_FORMAT", "console")
        else:
            env["MINDHIT_LOG_FORMAT"] = "json"  # parsed and filtered here (mindhit.up_output)
        children = _children(settings, components)
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
                _tend(child, now, env, selector, console)
            for key, _ in selector.select(timeout=0.2):
                _pump(key.data, selector, console)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_all(children, selector, console)
    return 0


def _tend(
    child: _Child,
    now: float,
    env: dict[str, str],
    selector: selectors.BaseSelector,
    console: Console,
) -> None:
    """One look at a child: start it when due, restart it when it died, say when it is ready."""
    if child.proc is None and now >= child.next_start:
        _start(child, env, selector, console)
    elif child.proc is not None and child.proc.poll() is not None:
        code = child.proc.returncode
        _drain(child, selector, console)
        for line in child.output.held():
            _show(child, line, console)
        child.output = OutputFilter(debug=child.output.debug)
        child.proc = None
        child.restarts += 1
        delay = min(_MAX_BACKOFF_S, 0.5 * 2 ** min(child.restarts, 6))
        child.next_start = now + delay
        console.print(f"[red]{child.name} exited ({code}); restarting in {delay:.1f}s[/]")
    elif not child.output.is_ready and now >= child.next_check:
        child.next_check = now + _HEALTH_EVERY_S
        if _answers(child.health_url):
            child.output.ready()
            colour = _COLOURS.get(child.name, "white")
            console.print(f"[{colour}]{child.name}[/] ready{child.ready_note}")


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
    if child.output.debug:
        console.print(
            f"[{_COLOURS.get(child.name, 'white')}]{child.name}[/] started (pid {child.proc.pid})"
        )


def _answers(url: str) -> bool:
    """Whether the component's health check answers 200 (no URL: ready once started)."""
    if not url:
        return True
    try:
        with urllib.request.urlopen(url, timeout=0.3) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def _show(child: _Child, text: str, console: Console) -> None:
    console.print(f"[{_COLOURS.get(child.name, 'white')}]{child.name:>10}[/] │ ", end="")
    console.out(text, highlight=False)


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
    for line in lines:
        shown = child.output.feed(line.decode(errors="replace"))
        if shown is not None:
            _show(child, shown, console)


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
