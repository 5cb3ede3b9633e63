"""`sonolab train`, `evaluate`, `report` and `predict` (registered by `sonolab.cli`).

Heavy libraries (torch, lightning, matplotlib) are imported inside the command functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def _metric_table(title: str, metrics: dict) -> Table:
    """Mean over folds (of each fold's seed mean), std across folds, std across seeds, with the counts."""
    table = Table(title=title)
    for column in ("metric", "mean", "std (folds)", "std (seeds)", "folds", "seeds"):
        table.add_column(column, justify="left" if column == "metric" else "right")

    def number(value: object) -> str:
        return "n/a" if value is None else f"{value:.4f}"

    for name, stats in metrics.items():
        table.add_row(name, number(stats.get("mean")), number(stats.get("std")), number(stats.get("std_seeds")),
                      str(stats.get("n_folds", stats.get("n", 0))), str(stats.get("n_seeds", "")))
    return table


def train_command(
    recipe: Path = typer.Argument(..., help="Recipe YAML (e.g. recipes/fsdd_cnn.yaml): every experiment setting lives there."),
    root: Optional[Path] = typer.Option(None, "--root", help="Dataset folder; overrides the recipe's `root`."),
    set_values: list[str] = typer.Option([], "--set", help="Override a recipe value, key.sub=value (YAML value), e.g. training.epochs=5. Repeatable."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default runs/<name>-<timestamp>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run in --out: finished folds are skipped, the partial one continues from its last.ckpt."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    allow_leaks: Optional[str] = typer.Option(None, "--allow-leaks", help="Train although the leakage audit finds a leak; the REASON (text) is written into the run and shown at the top of its report."),
) -> None:
    """Train every fold x seed (x sweep trial) of a recipe; audits the splits for leaks first; writes RUN_DIR/summary.json."""
    from sonolab.errors import ConfigError
    from sonolab.train.config import load_recipe
    from sonolab.train.runner import run_recipe

    if resume and out is None:
        raise ConfigError("--resume needs --out RUN_DIR (the folder of the run to continue)")
    resolved = load_recipe(recipe, set_values)
    if allow_leaks is not None and not allow_leaks.strip():
        raise ConfigError("--allow-leaks needs a reason, e.g. --allow-leaks \"copies are labelled identically on purpose\"")
    from sonolab.train.runs import is_rank_zero

    run_dir = run_recipe(resolved, root=root, out_dir=out, resume=resume, progress=progress, allow_leaks=allow_leaks)
    if not is_rank_zero():  # a DDP rank re-launched by Lightning: rank 0 reports
        return
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    console.print(_metric_table(f"{resolved['dataset']}: test metrics, mean over folds of seed means", summary["metrics"]))
    baseline = summary.get("baseline")
    if baseline:
        for name in ("accuracy", "balanced_accuracy", "macro_f1"):
            model, other = summary["metrics"].get(name, {}).get("mean"), baseline["metrics"].get(name, {}).get("mean")
            if model is not None and other is not None:
                console.print(f"{name}: model {model:.4f} vs baseline ({baseline['description']}) {other:.4f} on the same folds")
    console.print(f"run folder: {run_dir}")


def evaluate_command(
    run_dir: Path = typer.Argument(..., help="A run folder written by `sonolab train`."),
    root: Optional[Path] = typer.Option(None, "--root", help="Dataset folder if it moved since training."),
    as_json: bool = typer.Option(False, "--json", help="Print the evaluation as JSON."),
) -> None:
    """Re-score every saved model on its fold's held-out test partition, from the audio (and lyrics) files; writes evaluation.json."""
    from sonolab.train.runs import run_task

    task = run_task(run_dir)
    if task == "bimodal":
        from sonolab.train.bimodal.rescore import evaluate_bimodal_run as evaluate_run
    elif task == "classical":
        from sonolab.train.classical_predict import evaluate_classical_run as evaluate_run
    else:
        from sonolab.train.predict import evaluate_run
    evaluation = evaluate_run(run_dir, root=root, progress=not as_json)
    if as_json:
        typer.echo(json.dumps(evaluation["metrics"], indent=2))
        return
    console.print(_metric_table("held-out test metrics (recomputed from audio)", evaluation["metrics"]))
    console.print(f"written: {run_dir / 'evaluation.json'}")


def report_command(run_dir: Path = typer.Argument(..., help="A run folder written by `sonolab train`.")) -> None:
    """Write RUN_DIR/report.md and a self-contained RUN_DIR/report.html with tables and figures."""
    from sonolab.evaluate.report import write_report

    markdown, page = write_report(run_dir)
    console.print(f"written: {markdown}\nwritten: {page}")


def predict_command(
    run_dir: Path = typer.Argument(..., help="A run folder (all its fold/seed models are averaged) or one fold/seed folder."),
    files: Optional[list[Path]] = typer.Argument(None, help="Audio files (WAV/FLAC/OGG/MP3); resampled to the model's sample rate."),
    lyrics: list[Path] = typer.Option([], "--lyrics", help="Bimodal runs: the lyrics text file of each audio file, in the same order. Repeatable."),
    as_json: bool = typer.Option(False, "--json", help="Print predictions as JSON."),
) -> None:
    """Label and class probabilities for each file (valence, arousal and quadrant for a bimodal run), using the run's saved feature settings."""
    from sonolab.errors import ConfigError
    from sonolab.train.runs import run_task

    files = files or []
    if run_task(run_dir) == "bimodal":
        _predict_bimodal(run_dir, files, lyrics, as_json)
        return
    if not files:
        raise ConfigError(f"{run_dir}: no audio files given (fix: sonolab predict RUN_DIR FILE...)")
    if lyrics:
        raise ConfigError(f"{run_dir}: --lyrics is for bimodal (MERGE) runs; this run classifies audio only (fix: drop --lyrics)")
    if run_task(run_dir) == "classical":
        from sonolab.train.classical_predict import predict_classical as predict_files
    else:
        from sonolab.train.predict import predict_files

    result = predict_files(run_dir, files)
    if result.get("note"):
        console.print(f"note: {result['note']}")
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        table = Table(title=f"predictions ({len(result['models'])} model(s) averaged)")
        table.add_column("file")
        table.add_column("label")
        table.add_column("probability", justify="right")
        table.add_column("runner-up")
        for row in result["predictions"]:
            if "error" in row:
                table.add_row(row["file"], "[red]failed[/]", "", row["error"])
                continue
            ranked = sorted(row["probabilities"].items(), key=lambda pair: -pair[1])
            runner = f"{ranked[1][0]} ({ranked[1][1]:.3f})" if len(ranked) > 1 else ""
            table.add_row(row["file"], row["label"], f"{ranked[0][1]:.3f}", runner)
        console.print(table)
    if result["failed"]:
        console.print(f"[yellow]{result['failed']} file(s) could not be read (listed above)[/]")
        raise typer.Exit(1)


def _predict_bimodal(run_dir: Path, files: list[Path], lyrics: list[Path], as_json: bool) -> None:
    """Valence, arousal and quadrant per song from a bimodal run (audio files with their --lyrics)."""
    from sonolab.train.bimodal.task import predict_bimodal

    rows = predict_bimodal(run_dir, files, lyrics or None)
    if as_json:
        typer.echo(json.dumps({"predictions": rows}, indent=2))
        return
    table = Table(title=f"predictions ({rows[0]['models']} model(s) averaged)")
    for column in ("audio", "lyrics", "quadrant", "arousal", "valence", "quadrant probability"):
        table.add_column(column, justify="left" if column in ("audio", "lyrics") else "right")
    for row in rows:
        probability = row.get("quadrant_probabilities", {}).get(row["quadrant"])
        table.add_row(str(row["audio"] or ""), str(row["lyrics"] or ""), row["quadrant"],
                      *(f"{row[name]:.3f}" if name in row else "n/a" for name in ("arousal", "valence")),
                      f"{probability:.3f}" if probability is not None else "n/a")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add this group's commands to `app`."""
    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
    app.command("report")(report_command)
    app.command("predict")(predict_command)
