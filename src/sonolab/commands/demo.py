"""`sonolab demo`: the main job on the bundled real sample, offline."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add `demo` to `app`."""
