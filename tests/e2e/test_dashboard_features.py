"""Issue 16's dashboard features end to end in headless Chromium, on one running pipeline.

One module-scoped pipeline (gateway, processors, projector, dashboard as processes) and
one user with ``mindhit demo`` data serve every test here, so the added wall time stays
small. Each test drives ``features.mjs`` (playwright-core with the system Chromium; WebGL
through SwiftShader: ``--use-angle=swiftshader --enable-unsafe-swiftshader``) and keeps
screenshots under ``test-artifacts/e2e/features``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.e2e.pipeline import Pipeline, run_node

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e" / "features"
PASSWORD = "a long enough password"


@dataclass
class DemoUser:
    """The signed-up user, their device token and their demo sessions (oldest first)."""

    email: str
    token: str
    sessions: list[str]


@pytest.fixture(scope="module")
def pipeline(redis_url: str, database_url: str, tmp_path_factory: Any) -> Iterator[Pipeline]:
    """The four components against the test database, with a private key prefix."""
    prefix = f"mhe2f-{uuid.uuid4().hex[:8]}"
    running = Pipeline.configure(
        redis_url=redis_url,
        database_url=database_url,
        key_prefix=prefix,
        data_dir=tmp_path_factory.mktemp("e2e-features"),
        logs=ARTIFACTS / "logs",
    )
    running.env["MINDHIT_DELETE_UNDO_S"] = "4"
    running.env["MINDHIT_HOUSEKEEPING_INTERVAL_S"] = "1"
    try:
        running.start()
        yield running
    finally:
        running.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        client.close()


@pytest.fixture(scope="module")
def user(pipeline: Pipeline) -> DemoUser:
    """A user signed up in the browser, with three demo sessions made through the gateway."""
    email = f"e2e-feat-{uuid.uuid4().hex[:8]}@example.com"
    signup = run_node(
        "dashboard.mjs",
        "signup",
        json.dumps(
            {
                "baseUrl": pipeline.web_url,
                "artifacts": str(ARTIFACTS),
                "email": email,
                "password": PASSWORD,
                "device": "features laptop",
            }
        ),
    )
    assert signup["ok"], signup.get("error")
    demo = json.loads(
        pipeline.mindhit(
            "demo", "--email", email, "--token", signup["token"], "--gateway", pipeline.gateway_url
        )
        .strip()
        .splitlines()[-1]
    )
    assert demo["ready"] == 3
    return DemoUser(email=email, token=signup["token"], sessions=list(demo["sessions"]))


def _run(phase: str, pipeline: Pipeline, user: DemoUser, **extra: Any) -> dict[str, Any]:
    config = {
        "baseUrl": pipeline.web_url,
        "artifacts": str(ARTIFACTS),
        "email": user.email,
        "password": PASSWORD,
        **extra,
    }
    result = run_node("features.mjs", phase, json.dumps(config))
    assert result["ok"], result.get("error")
    assert result["pageErrors"] == [] and result["cspViolations"] == []
    assert result["dialogs"] == []
    return result


def test_3d_mind_map_draws_opens_pages_flies_and_is_remembered(
    pipeline: Pipeline, user: DemoUser
) -> None:
    seen = _run("map3d", pipeline, user, sessionId=user.sessions[-1])
    assert seen["initialView"] == "2d" and seen["view"] == "3d"
    # Every node of the map is a sphere, and the canvas really draws them.
    assert seen["nodes3d"] == seen["nodes2d"] >= 5
    assert seen["canvasVisible"] and seen["expandHidden"]
    sample = seen["sample"]
    assert sample["drawn"] > 0.005 * sample["width"] * sample["height"]
    assert sample["colours"] >= 3  # spheres in several branch colours, labels, edges
    # Clicking the branch sphere lists its pages in the shared panel; the camera flew to it.
    assert seen["selected"] == seen["clicked"]["id"]
    assert seen["panelTitle"] == seen["clicked"]["label"] and seen["panelPages"] >= 1
    assert seen["flewCloser"] and seen["orbitChanged"]
    # Remembered on the server, and reduced motion falls back to 2D with a note.
    assert seen["savedSetting"] == {"map_view": "3d"} and seen["viewAfterReload"] == "3d"
    assert seen["reducedView"] == "2d" and "reduced motion" in seen["reducedNote"]
    assert seen["reducedCanvas"] == 0
    assert seen["finalSetting"] == {"map_view": "2d"}
    for name in ("20-mindmap-3d", "21-mindmap-3d-selected", "22-mindmap-reduced-motion"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
