"""The `sonolab` command. Each verb group lives in `sonolab.commands.<group>` and registers itself here.

Command modules import heavy libraries (torch, lightning) inside the command functions, so that
`sonolab --help` stays fast. A `SonolabError` is a user mistake: it is printed as one line naming the
file and the fix, with exit code 2 and no traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from sonolab import __version__
from sonolab.commands import data as data_commands
from sonolab.commands import demo as demo_commands
from sonolab.commands import eq as eq_commands
from sonolab.commands import train as train_commands
from sonolab.errors import SonolabError

USER_ERROR_EXIT_CODE = 2

app = typer.Typer(
    name="sonolab",
    help="Audio deep learning done right: verified data, leak-free splits, honest evaluation, semantic EQ.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"sonolab {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", callback=_print_version, is_eager=True),
) -> None:
    """sonolab: from a folder of audio files to a trained, honestly evaluated model and a report."""


demo_commands.register(app)
data_commands.register(app)
train_commands.register(app)
eq_commands.register(app)


def main() -> None:
    """Console entry point: typer handles usage errors and exit codes; user errors become one line."""
    try:
        app()
    except SonolabError as error:
        Console(stderr=True).print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(USER_ERROR_EXIT_CODE)
