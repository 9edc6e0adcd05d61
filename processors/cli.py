"""Commands contributed by the processors service to the ``mindhit`` CLI.

Core commands (the worker, dead letters) come from :mod:`processors.commands`;
AI commands (``mindmap``) from :mod:`processors.ai.commands`.
"""

from __future__ import annotations

import click

from processors.ai.commands import commands as ai_commands
from processors.commands import commands as core_commands

__all__ = ["commands"]

commands: list[click.Command] = [*core_commands, *ai_commands]
