"""The layers hold: schema ← core ← services ← composition, and no import cycles.

The rules and the graph builder are in :mod:`tests.support.layers`; the tests below
check the real tree, then prove the check fails on each kind of violation.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.support.layers import (
    build_graph,
    cycles,
    dynamic_imports,
    layer_of,
    layer_violations,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_tree_keeps_its_layers() -> None:
    graph = build_graph(ROOT)
    assert {"schema", "mindhit", "mindhit.cli", "web.app", "projector.replay"} <= set(graph)
    assert layer_violations(graph) == []


def test_the_tree_has_no_import_cycle() -> None:
    assert cycles(build_graph(ROOT)) == []


def test_no_import_hides_from_the_graph() -> None:
    assert dynamic_imports(ROOT) == []


def test_the_layers_are_named_as_documented() -> None:
    assert layer_of("schema.events") == "schema"
    assert layer_of("mindhit.streams") == "core"
    assert layer_of("mindhit.clinic") == "core"  # a prefix of the name is not the layer
    assert layer_of("mindhit.cli") == layer_of("mindhit.cli.replay") == "composition"
    assert layer_of("projector.replay") == "service:projector"


def test_a_cycle_is_reported_with_its_members() -> None:
    graph = {"web.app": {"web.api"}, "web.api": {"web.common", "web.app"}, "web.common": set()}
    assert cycles(graph) == [["web.api", "web.app"]]
    longer = {"a.x": {"a.y"}, "a.y": {"a.z"}, "a.z": {"a.x"}, "a.w": {"a.x"}}
    assert cycles(longer) == [["a.x", "a.y", "a.z"]]


def test_every_upward_or_sideways_import_is_reported() -> None:
    graph = {
        "schema.events": {"mindhit.settings"},  # schema imports the project
        "mindhit.lag": {"web.ops"},  # the core imports a service
        "projector.cli": {"processors.rederive"},  # a service imports another
        "web.app": {"mindhit.cli.openapi"},  # a service imports the composition layer
        "mindhit.streams": {"mindhit.cli"},  # the core imports the composition layer
        "mindhit.cli.replay": {"processors.rederive", "projector.replay"},  # allowed
        "web.api": {"mindhit.clock", "schema.api", "web.models"},  # allowed
    }
    assert layer_violations(graph) == [
        "mindhit.lag -> web.ops (core imports service:web)",
        "mindhit.streams -> mindhit.cli (core imports composition)",
        "projector.cli -> processors.rederive (service:projector imports service:processors)",
        "schema.events -> mindhit.settings (schema imports core)",
        "web.app -> mindhit.cli.openapi (service:web imports composition)",
    ]


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_imports_inside_functions_relative_and_literal_dynamic_ones_are_edges(
    tmp_path: Path,
) -> None:
    root = _tree(
        tmp_path,
        {
            "web/__init__.py": "",
            "web/app.py": """
                def create():
                    from web.api import handlers  # function level
                    return handlers
            """,
            "web/api.py": "from .app import create\nhandlers = []\n",  # relative
            "projector/__init__.py": "",
            "projector/cli.py": """
                import importlib

                def load():
                    return importlib.import_module("processors.rederive")
            """,
            "processors/__init__.py": "",
            "processors/rederive.py": "",
        },
    )
    graph = build_graph(root, ("web", "projector", "processors"))
    assert graph["web.app"] == {"web.api"}
    assert graph["web.api"] == {"web.app"}
    assert cycles(graph) == [["web.api", "web.app"]]
    assert layer_violations(graph) == [
        "projector.cli -> processors.rederive (service:projector imports service:processors)"
    ]


def test_an_import_by_a_computed_name_is_reported(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "web/__init__.py": "",
            "web/plugins.py": """
                import importlib

                def load(name):
                    return importlib.import_module(name)
            """,
        },
    )
    assert dynamic_imports(root, ("web",)) == ["web/plugins.py:5"]
