"""The command line: --version, --help on every command with units, user errors as one line."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sonolab import __version__
from sonolab.cli import app

runner = CliRunner()


def _commands(group=app) -> list[list[str]]:
    """Every command path of the app, e.g. ['eq', 'generate']."""
    import typer.main

    click_group = typer.main.get_command(group)
    paths: list[list[str]] = []

    def walk(command, prefix: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in subcommands.items():
                walk(sub, prefix + [name])
        else:
            paths.append(prefix)

    walk(click_group, [])
    return paths


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_every_command_has_help_with_every_option_explained() -> None:
    import typer.main

    click_group = typer.main.get_command(app)
    for path in _commands():
        command = click_group
        for name in path:
            command = command.commands[name]
        for parameter in command.params:
            if parameter.name == "help" or not parameter.__class__.__name__.endswith("Option"):
                continue
            assert parameter.help, f"`sonolab {' '.join(path)}` option --{parameter.name} has no help text"
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, f"sonolab {' '.join(path)} --help failed: {result.output}"


def test_numeric_options_name_their_unit() -> None:
    """An option that takes a number with a physical unit carries the unit in its name or help."""
    import typer.main

    unit_words = re.compile(r"(hz|db|seconds|_s\b|samples|frames|bins|semitones|lu|count|number|fraction|ratio|"
                            r"factor|weight|dimension|unitless|dimensionless|probability|epochs|steps|seed|workers|folds|size|rate|strength|%|\bn\b|how many|index)", re.I)
    click_group = typer.main.get_command(app)
    for path in _commands():
        command = click_group
        for name in path:
            command = command.commands[name]
        for parameter in command.params:
            if str(parameter.bare_type()) in {"int", "float"}:
                text = f"{parameter.name} {parameter.help or ''}"
                assert unit_words.search(text), f"`sonolab {' '.join(path)} --{parameter.name}`: say its unit"


def test_user_error_is_one_line_without_traceback(tmp_path) -> None:
    missing = tmp_path / "no-such-file.wav"
    script = (
        "import sys; from sonolab.cli import main; from sonolab.audio.io import load_audio\n"
        "import typer\n"
        "from sonolab.cli import app\n"
        "@app.command('raise-for-test')\n"
        "def _r():\n"
        f"    load_audio({str(missing)!r})\n"
        "sys.argv=['sonolab','raise-for-test']; main()\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(missing) in lines[0] and "fix:" in lines[0]


@pytest.mark.parametrize("argv", [["--help"], []])
def test_root_help(argv: list[str]) -> None:
    result = runner.invoke(app, argv)
    assert "Usage" in result.output
