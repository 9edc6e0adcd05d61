"""Run ``bench/chaos.py`` as a child process and check what its users would notice.

The soak runs its own Redis (standalone or cluster) and PostgreSQL, so its tests need
neither the shared services nor a key prefix; they read the JSON of its last line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LOSS = (
    "missing_events",
    "lost_visits",
    "duplicate_visits",
    "dwell_mismatches",
    "session_mismatches",
    "sessions_without_map",
)
"""Figures that count what a user would notice: each must be 0 after any fault."""


def run_soak(*args: str) -> tuple[dict[str, Any], str]:
    """Run the soak with ``args``; return its figures and a report to print on failure.

    Already checked: it drained, lost and duplicated nothing (:data:`LOSS`), refused
    nothing, no component died by itself (a kill's restart would hide it), and it
    exited 0.
    """
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "chaos.py"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("{"), done.stderr[-4000:]
    figures: dict[str, Any] = json.loads(lines[-1])
    report = f"{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    assert figures["drained"], report
    assert {k: figures[k] for k in LOSS} == dict.fromkeys(LOSS, 0), report
    assert figures["refused_uploads"] == figures["rejected_events"] == 0, report
    assert figures["found_dead"] == figures["exited"] == [], report
    assert done.returncode == 0, report
    return figures, report
