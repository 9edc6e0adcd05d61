"""The dashboard's commands as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mindhit.cli import cli


def test_openapi_command_writes_one_document_for_both_services(tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    result = CliRunner().invoke(
        cli, ["openapi", "--out", str(out)], env={"MINDHIT_LOG_FORMAT": "json"}
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["info"]["title"] == "MindHit API"
    assert {"/v1/events", "/v1/sessions/{session_id}", "/v1/search"} <= set(doc["paths"])
    assert [s["description"] for s in doc["servers"]] == ["gateway", "dashboard"]


def test_web_demo_and_openapi_are_listed_in_help() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert all(name in result.output for name in ("web ", "demo ", "openapi "))
