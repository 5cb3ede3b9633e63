"""`sonolab` commands of the train group (registered by `sonolab.cli`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this group's commands to `app`."""
