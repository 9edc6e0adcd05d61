"""Small modules, short functions: no module over 400 lines, no function over 80.

ruff checks complexity, arguments and statements (``C901``, ``PLR0913``,
``PLR0915`` in ``pyproject.toml``); this checks the sizes ruff cannot. Click
commands are exempt from the function length (one parameter and a few lines per
option). The ``ALLOWED`` entries are code being rewritten right now.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.support.layers import PACKAGES, module_names

ROOT = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80

ALLOWED: tuple[str, ...] = ()


def _allowed(path: str) -> bool:
    return any(path.startswith(prefix) for prefix in ALLOWED)


def _is_command(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether ``node`` is a click command or group (``@<x>.command(...)``, ``@<x>.group``)."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr in ("command", "group"):
            return True
    return False


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> Iterator[tuple[str, int]]:
    """``(name, lines)`` of every function (not a click command) longer than ``limit``."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not _is_command(node):
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > limit:
                yield node.name, lines


def _sources() -> Iterator[tuple[str, str]]:
    for path in module_names(ROOT, PACKAGES).values():
        relative = path.relative_to(ROOT).as_posix()
        if not _allowed(relative):
            yield relative, path.read_text()


def test_no_module_is_over_400_lines() -> None:
    long = {path: len(text.splitlines()) for path, text in _sources()}
    assert {p: n for p, n in long.items() if n > MAX_MODULE_LINES} == {}


def test_no_function_is_over_80_lines() -> None:
    found = {
        f"{path}:{name}": lines for path, text in _sources() for name, lines in long_functions(text)
    }
    assert found == {}


def test_a_long_function_is_found_and_a_long_command_is_not() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(80))
    source = (
        "import click\n\n"
        "def short():\n    return 1\n\n"
        f"def long():\n{body}    return x0\n\n"
        '@click.command()\n@click.option("--n")\n'
        f"def command(n):\n{body}    return n\n"
    )
    assert list(long_functions(source)) == [("long", 82)]


def test_the_allowances_are_only_the_code_being_rewritten() -> None:
    assert not _allowed("processors/transport/consumer.py")
    assert not _allowed("processors/dwell.py") and not _allowed("processors/agents/raw.py")
    assert not _allowed("processors/app.py") and not _allowed("projector/replay.py")
