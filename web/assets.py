"""Where the built front-end lives, and a check that it was built.

The JavaScript islands are bundled by ``scripts/build-web.sh`` (esbuild, offline from
``web/frontend/node_modules``) into ``web/static/dist``. Serving the dashboard without
them would show a broken mind map, so ``mindhit web`` refuses to start without them.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DIST", "ISLANDS", "ensure_assets"]

DIST = Path(__file__).parent / "static" / "dist"
ISLANDS = ("mindmap.js",)


def ensure_assets() -> None:
    """Raise ``RuntimeError`` naming the build command when a bundle is missing."""
    missing = [name for name in ISLANDS if not (DIST / name).is_file()]
    if missing:
        raise RuntimeError(
            f"front-end bundle(s) missing: {', '.join(missing)}; run scripts/build-web.sh"
        )
