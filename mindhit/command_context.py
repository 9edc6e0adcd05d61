"""What every ``mindhit`` subcommand gets from the root command: the settings object.

The root command (:mod:`mindhit.cli`) reads the settings once and keeps them on the
click context; services' commands read them back with :func:`settings_from`, so they
need nothing from the composition layer that assembles the command line.
"""

from __future__ import annotations

import click

from mindhit.settings import Settings

__all__ = ["settings_from"]


def settings_from(ctx: click.Context) -> Settings:
    """The settings object the root command built."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings
