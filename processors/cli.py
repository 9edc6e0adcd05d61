"""Commands contributed by the processors service to the ``mindhit`` CLI.

Core commands (the worker, dead letters) come from :mod:`processors.commands`;
AI commands (``mindmap``) from :mod:`processors.ai.commands`.
"""

from __future__ import annotations

import click

__all__ = ["commands"]


def _collect() -> list[click.Command]:
    found: list[click.Command] = []
    for module_name in ("processors.commands", "processors.ai.commands"):
        try:
            module = __import__(module_name, fromlist=["commands"])
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        found.extend(module.commands)
    return found


commands: list[click.Command] = _collect()
