"""``mindhit mindmap`` builds a map from a JSON file and prints it as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec
from click.testing import CliRunner

from mindhit.cli import cli
from mindhit.corpus import load_pages


def test_mindmap_command_prints_a_tree_with_every_page_as_a_leaf(tmp_path: Path) -> None:
    pages: list[dict[str, Any]] = [
        {"url": p.url, "title": p.title, "text": p.text, "dwell_ms": 1000 * (i + 1)}
        for i, p in enumerate(load_pages()[::4])
    ]
    source = tmp_path / "pages.json"
    source.write_text(json.dumps(pages))
    result = CliRunner().invoke(
        cli, ["mindmap", "--input", str(source), "--provider", "local"], env={}
    )
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout)
    root = output["root"]
    assert output["provider"] == "local" and root["label"]
    leaves = [leaf for branch in root["children"] for leaf in branch["children"]]
    assert sorted(leaf["url"] for leaf in leaves) == sorted(p["url"] for p in pages)
    assert root["weight_ms"] == sum(p["dwell_ms"] for p in pages)


def test_mindmap_command_reads_the_demo_corpus_as_is() -> None:
    corpus = msgspec.json.encode([msgspec.structs.asdict(p) for p in load_pages()])
    result = CliRunner().invoke(cli, ["mindmap", "--input", "-", "--compact"], input=corpus, env={})
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["root"]["children"]) >= 5


def test_mindmap_command_explains_bad_input(tmp_path: Path) -> None:
    source = tmp_path / "pages.json"
    source.write_text('{"not": "a list"}')
    result = CliRunner().invoke(cli, ["mindmap", "--input", str(source)], env={})
    assert result.exit_code == 2
    assert "not a JSON list of pages" in result.output


def test_gemini_without_a_key_is_a_usage_error(tmp_path: Path) -> None:
    source = tmp_path / "pages.json"
    source.write_text("[]")
    result = CliRunner().invoke(
        cli,
        ["mindmap", "--input", str(source), "--provider", "gemini"],
        env={"MINDHIT_GEMINI_API_KEY": ""},
    )
    assert result.exit_code == 2
    assert "MINDHIT_GEMINI_API_KEY" in result.output
