"""``python -m mindhit.cli``: the same as the ``mindhit`` console script."""

from __future__ import annotations

from mindhit.cli import main

main()
