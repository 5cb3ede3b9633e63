"""`sonolab demo`: the main job on the bundled real sample, offline."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    """Add `demo` to `app`."""

    @app.command("demo")
    def demo(
        out: Path = typer.Option(Path("sonolab-demo"), "--out", help="Report folder to write (created; reused to resume)."),
        epochs: int = typer.Option(None, "--epochs", help="Override the number of training epochs (count; default: the demo recipe's)."),
    ) -> None:
        """Verify, featurise, split, audit, train and evaluate on the bundled FSDD sample; generate warm/bright EQ; write a report."""
        from sonolab.demo import run_demo

        _, failed_stages = run_demo(out, epochs=epochs)
        if failed_stages:
            raise typer.Exit(1)
