"""`sonolab eq ...`: semantic EQ from SAFE-DB (train, generate, interpolate, apply, evaluate, plot).

Without `--model` every command uses the default model shipped with sonolab (trained on the bundled,
pseudonymised SAFE-DB copy), so it works offline and at once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from sonolab.errors import ConfigError

if TYPE_CHECKING:
    from sonolab.semantic_eq.apply import ApplyOptions

eq_app = typer.Typer(help="Semantic EQ: words (warm, bright, ...) to 5-band EQ settings, trained on SAFE-DB.", no_args_is_help=True)

MODEL_HELP = "Model folder written by `sonolab eq train` (default: the folder shipped with sonolab, which serves the per-term median; see its README)."
STRENGTH_HELP = "Multiplies all five gains (0 = flat, 1 = as generated, up to 2); gains stay within ±12 dB."
JSON_HELP = "Print machine-readable JSON instead of a table."


def _console():
    from rich.console import Console

    return Console()


def _check_strength(strength: float) -> None:
    if not 0.0 <= strength <= 2.0:
        raise ConfigError(f"--strength {strength} is outside 0..2 (fix: pass a value between 0 and 2)")


def _load_model(model_dir: Optional[Path]):
    from sonolab.semantic_eq.default import load_eq_model

    return load_eq_model(model_dir)


def _setting_table(title: str, settings: list[Any], column_names: list[str]):
    from rich.table import Table

    from sonolab.audio.eq import PLUGIN_LIMITS

    table = Table(title=title)
    table.add_column("parameter")
    table.add_column("unit")
    for name in column_names:
        table.add_column(name, justify="right")
    for index, limit in enumerate(PLUGIN_LIMITS):
        unit = limit.unit or "-"
        digits = 2 if limit.unit == "dB" else (0 if limit.unit == "Hz" else 3)
        table.add_row(limit.name, unit, *[f"{s.to_vector()[index]:.{digits}f}" for s in settings])
    return table


def _holdout_fingerprint(dataset, holdout_index) -> str:
    ids = sorted(dataset.rows[i].entry_id for i in holdout_index)
    return hashlib.sha256("|".join(ids).encode()).hexdigest()[:16]


def _load_dataset(root: Optional[Path], min_count: int):
    from sonolab.data.safe import bundled_safe_csv, load_safe_csv

    return load_safe_csv(bundled_safe_csv() if root is None else root, min_count_per_term=min_count)


@eq_app.command("train")
def train_command(
    root: Path = typer.Option(..., "--root", help="SAFE-DB folder holding SAFEEqualiserUserData.csv (or the CSV itself)."),
    out: Path = typer.Option(..., "--out", help="Model folder to write (model.safetensors, config.json, evaluation.json)."),
    latent_size: int = typer.Option(8, "--latent-size", help="Latent dimensions of the autoencoder."),
    epochs: int = typer.Option(150, "--epochs", help="Training epochs (passes over the training contributors' rows)."),
    contrastive_weight: float = typer.Option(0.2, "--contrastive-weight", help="Final weight of the supervised contrastive loss (annealed from 0 over the first half)."),
    min_count: int = typer.Option(5, "--min-count", help="Minimum rows from the training contributors for a term to be learned (counted after the split)."),
    holdout_fraction: float = typer.Option(0.2, "--holdout-fraction", help="Fraction of contributors held out for evaluation (0-1)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the split, initialisation and batching."),
    default_generator: str = typer.Option("model", "--default-generator", help="Which generator the folder serves by default: model (the autoencoder) or median (the per-term median of the same training rows, written to median.json either way)."),
) -> None:
    """Fit the semantic EQ model on the training contributors and evaluate it on the held-out ones."""
    from sonolab.data.paths import check_output_path, output_errors

    if not 0.0 < holdout_fraction < 1.0:
        raise ConfigError(f"--holdout-fraction {holdout_fraction} is outside (0, 1) (fix: pass e.g. 0.2)")
    for option, value in (("--epochs", epochs), ("--latent-size", latent_size), ("--min-count", min_count)):
        if value < 1:
            raise ConfigError(f"{option} {value} must be at least 1 (fix: pass a positive whole number)")
    if default_generator not in ("model", "median"):
        raise ConfigError(f"--default-generator {default_generator!r} is not model or median (fix: pass one of them)")
    if contrastive_weight < 0:
        raise ConfigError(f"--contrastive-weight {contrastive_weight} is negative (fix: pass 0 or more, e.g. 0.2)")
    check_output_path(out, "--out model folder", directory=True)

    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from sonolab.atomic import write_json_atomic
    from sonolab.semantic_eq.evaluate import evaluate_generators
    from sonolab.semantic_eq.generators import MedianGenerator, RandomGenerator
    from sonolab.semantic_eq.train import EqTrainConfig, fit_eq_model

    console = _console()
    dataset = _load_dataset(root, 1)  # every term: the vocabulary is decided on the training contributors
    console.print(f"{dataset.source}: {dataset.rows_read} rows read, {len(dataset.rows)} usable over {len(dataset.terms)} distinct terms; dropped {dataset.dropped}; {len(dataset.problems)} malformed rows")
    for problem in dataset.problems[:20]:
        console.print(f"  row {problem.row_number}: {problem.reason}", highlight=False)
    if len(dataset.problems) > 20:
        console.print(f"  ... and {len(dataset.problems) - 20} more (all listed in {out / 'config.json'})")
    config = EqTrainConfig(latent_size=latent_size, epochs=epochs, contrastive_weight=contrastive_weight, holdout_fraction=holdout_fraction, min_count_per_term=min_count, seed=seed)
    with Progress(TextColumn("training"), BarColumn(), TextColumn("{task.completed}/{task.total} epochs {task.fields[loss]}"), TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task("train", total=epochs, loss="")
        model, record = fit_eq_model(dataset, config, on_epoch=lambda epoch, r: progress.update(task, completed=epoch, loss=f"recon {r['reconstruction']:.4f}"))
    train_index, holdout_index = record["train_index"], record["holdout_index"]
    median = MedianGenerator.fit(dataset.vectors()[train_index], dataset.labels()[train_index], model.terms)
    results = evaluate_generators(dataset, train_index, holdout_index, [model, median, RandomGenerator(model.terms, seed)], seed)
    command = f"sonolab eq train --root {root} --out {out} --latent-size {latent_size} --epochs {epochs} --contrastive-weight {contrastive_weight} --min-count {min_count} --holdout-fraction {holdout_fraction} --seed {seed} --default-generator {default_generator}"
    model.metadata["data"].update({"min_count_per_term": min_count, "holdout_fingerprint": _holdout_fingerprint(dataset, holdout_index), "problem_rows": [p.to_dict() for p in dataset.problems], "dropped": dataset.dropped})
    with output_errors(out, "--out model folder"):
        model.save(out, extra={"command": command, "default_generator": default_generator})
        median.save(out, extra={"command": command, "fitted_on": f"the {results['rows_train']} training-contributor rows of the same split as the model"})
        write_json_atomic(out / "evaluation.json", results)
    _print_results(results)
    console.print(f"model written to {out} (terms with >= {min_count} training rows: {', '.join(model.terms)}); default generator: {default_generator}")


def _print_results(results: dict[str, Any]) -> None:
    from rich.table import Table

    from sonolab.semantic_eq.evaluate import evaluation_table, training_fit_table

    console = _console()
    titles = (
        f"held-out contributors ({results['contributors_holdout']}): {results['rows_holdout']} rows {results['holdout_term_counts']}",
        f"training-fit diagnostics ({results['contributors_train']} training contributors, {results['rows_train']} rows): not held-out evidence",
    )
    for title, (header, rows) in zip(titles, (evaluation_table(results), training_fit_table(results))):
        table = Table(title=title)
        for name in header:
            table.add_column(name, justify="right" if name != header[0] else "left")
        for row in rows:
            table.add_row(*row)
        console.print(table)


def _print_splits(summary: dict[str, Any]) -> None:
    from rich.table import Table

    from sonolab.semantic_eq.evaluate import splits_table

    header, rows = splits_table(summary)
    table = Table(title="contributor splits (each: split, vocabulary on training rows, train, evaluate on held-out rows)")
    for name in header:
        table.add_column(name, justify="right" if name != header[0] else "left")
    for row in rows:
        table.add_row(*row)
    console = _console()
    console.print(table)
    paired = summary["paired"]
    console.print(f"rule: {paired['rule']}; better generator: {paired['better_generator']}", highlight=False)


@eq_app.command("generate")
def generate_command(
    term: str = typer.Argument(..., help="Descriptor, e.g. warm or bright."),
    model_dir: Optional[Path] = typer.Option(None, "--model", help=MODEL_HELP),
    strength: float = typer.Option(1.0, "--strength", help=STRENGTH_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Print the 13 EQ parameters (with units) for TERM."""
    from sonolab.semantic_eq.generators import check_term

    _check_strength(strength)
    model = _load_model(model_dir)
    term = check_term(term, model.terms, model.source_name())  # the canonical term ("Brighter " -> "bright")
    setting = model.generate(term, strength)
    if as_json:
        typer.echo(json.dumps({"term": term, "strength": strength, "setting": setting.to_dict()}, indent=2))
    else:
        _console().print(_setting_table(f"'{term}' at strength {strength:g}", [setting], [term]))


@eq_app.command("interpolate")
def interpolate_command(
    term_a: str = typer.Argument(..., help="Start descriptor."),
    term_b: str = typer.Argument(..., help="End descriptor."),
    steps: int = typer.Option(5, "--steps", help="Number of settings from A to B, both ends included (at least 2)."),
    model_dir: Optional[Path] = typer.Option(None, "--model", help=MODEL_HELP),
    strength: float = typer.Option(1.0, "--strength", help=STRENGTH_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """A -> B in K settings (straight line between the terms' latent anchors)."""
    from sonolab.semantic_eq.generators import check_term

    _check_strength(strength)
    model = _load_model(model_dir)
    term_a, term_b = (check_term(t, model.terms, model.source_name()) for t in (term_a, term_b))
    settings = model.interpolate(term_a, term_b, steps, strength)
    weights = [index / (steps - 1) for index in range(steps)]
    if as_json:
        typer.echo(json.dumps({"from": term_a, "to": term_b, "steps": [{"weight": w, "setting": s.to_dict()} for w, s in zip(weights, settings)]}, indent=2))
    else:
        _console().print(_setting_table(f"{term_a} -> {term_b}", settings, [f"{w:.2f}" for w in weights]))


@eq_app.command("apply")
def apply_command(
    term: str = typer.Argument(..., help="Descriptor, e.g. warm or bright."),
    input_path: Path = typer.Argument(..., help="Audio file (WAV, FLAC, OGG, AIFF, MP3) or a folder of them (processed recursively)."),
    output_path: Path = typer.Argument(..., help="Output file, or output folder for a folder input (sample rate, channels, container and sample format kept)."),
    model_dir: Optional[Path] = typer.Option(None, "--model", help=MODEL_HELP),
    strength: float = typer.Option(1.0, "--strength", help=STRENGTH_HELP),
    no_loudness_match: bool = typer.Option(False, "--no-loudness-match", help="Keep the EQ's level change instead of matching integrated loudness (BS.1770 LUFS) to the input."),
    no_limiter: bool = typer.Option(False, "--no-limiter", help="No dynamics processing: lower the whole gain until the true peak is under the ceiling (the output is then quieter than the input)."),
    ceiling_dbtp: float = typer.Option(-1.0, "--ceiling-dbtp", help="True-peak ceiling in dBTP (ITU-R BS.1770-4, 4x oversampled); between -20 and 0."),
    workers: int = typer.Option(0, "--workers", help="Folder input: parallel worker processes (0 = one per CPU core)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Folder input: CSV report path (default OUT/eq_report.csv): loudness, true peak and limiting per file."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Equalise an audio file (or a folder) with TERM: loudness-matched to the input and under a true-peak ceiling."""
    from sonolab.data.paths import check_output_path, output_errors
    from sonolab.semantic_eq.generators import check_term

    _check_strength(strength)
    if not -20.0 <= ceiling_dbtp <= 0.0:
        raise ConfigError(f"--ceiling-dbtp {ceiling_dbtp} is outside -20..0 dBTP (fix: pass e.g. -1)")
    if workers < 0:
        raise ConfigError(f"--workers {workers} is negative (fix: pass 0 for one per CPU core, or a positive number)")
    folder = input_path.is_dir()
    if folder:
        check_output_path(output_path, "OUT folder", directory=True)
        if output_path.resolve() == input_path.resolve() or input_path.resolve() in output_path.resolve().parents:
            raise ConfigError(f"{output_path}: OUT folder lies inside the input folder, outputs would be processed again (fix: choose a folder outside {input_path})")
        if report is not None:
            check_output_path(report, "--report CSV file")
    else:
        check_output_path(output_path, "OUT audio file")
    model = _load_model(model_dir)
    term = check_term(term, model.terms, model.source_name())
    setting = model.generate(term)
    from sonolab.semantic_eq.apply import ApplyOptions

    options = ApplyOptions(strength, not no_loudness_match, not no_limiter, ceiling_dbtp)
    if folder:
        _apply_folder(term, setting, input_path, output_path, options, workers, report, as_json)
        return
    from sonolab.semantic_eq.apply import apply_to_file

    with output_errors(output_path, "OUT audio file"):
        result = apply_to_file(input_path, output_path, setting, options)
    if as_json:
        typer.echo(json.dumps({"term": term, "input": str(input_path), "output": str(output_path), **result.to_dict()}, indent=2))
        return
    console = _console()
    console.print(_setting_table(f"'{term}' applied at strength {strength:g}", [result.setting], [term]))
    if result.input_loudness_lufs is not None and result.output_loudness_lufs is not None:
        console.print(f"loudness: input {result.input_loudness_lufs:.2f} LUFS, output {result.output_loudness_lufs:.2f} LUFS (make-up gain {result.makeup_gain_db:+.2f} dB)")
    console.print(f"true peak: input {result.input_true_peak_dbtp:.2f} dBTP, output {result.output_true_peak_dbtp:.2f} dBTP (ceiling {ceiling_dbtp:g} dBTP)")
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(f"written {output_path} ({result.channels} channel(s), {result.sample_rate_hz} Hz)")


def _apply_folder(term, setting, input_dir: Path, output_dir: Path, options: ApplyOptions, workers: int, report: Optional[Path], as_json: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from sonolab.data.paths import output_errors
    from sonolab.semantic_eq.apply import apply_to_folder, find_audio_files

    report_path = report if report is not None else output_dir / "eq_report.csv"
    total = len(find_audio_files(input_dir))
    console = _console()
    with output_errors(report_path, "--report CSV file"), Progress(
        TextColumn(f"eq apply {term}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console, disable=as_json
    ) as progress:
        task = progress.add_task("files", total=total)
        rows = apply_to_folder(input_dir, output_dir, setting, options, workers or None, report_path, on_file=lambda row: progress.advance(task))
    failed = [row for row in rows if row["status"] != "ok"]
    if as_json:
        typer.echo(json.dumps({"term": term, "input": str(input_dir), "output": str(output_dir), "report": str(report_path), "files": rows}, indent=2, default=str))
    else:
        console.print(f"{len(rows) - len(failed)} of {len(rows)} files written to {output_dir}; report {report_path}")
        for row in failed:
            console.print(f"failed: {row['input']}: {row['error']}", highlight=False)
    if failed:
        raise typer.Exit(1)


@eq_app.command("evaluate")
def evaluate_command(
    model_dir: Optional[Path] = typer.Option(None, "--model", help=MODEL_HELP),
    root: Optional[Path] = typer.Option(None, "--root", help="SAFE-DB folder the model was trained on (default: the bundled copy)."),
    splits: int = typer.Option(0, "--splits", help="Instead: repeat split -> train -> evaluate for seeds 0..N-1 (N >= 2; about 40 s each on one CPU core) and report mean ± std."),
    epochs: int = typer.Option(150, "--epochs", help="With --splits: training epochs per split."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Held-out contributors: the model beside the per-term median and random settings (one split, or --splits N)."""
    from sonolab.semantic_eq.evaluate import evaluate_generators
    from sonolab.semantic_eq.generators import MedianGenerator, RandomGenerator
    from sonolab.semantic_eq.splits import vocabulary_split

    if splits:
        if splits < 2:
            raise ConfigError(f"--splits {splits}: a spread needs at least 2 splits (fix: pass --splits 5)")
        if epochs < 1:
            raise ConfigError(f"--epochs {epochs} must be at least 1 (fix: pass a positive whole number)")
        _evaluate_splits(root, splits, epochs, as_json)
        return
    from sonolab.semantic_eq.default import load_autoencoder

    model = load_autoencoder(model_dir)  # evaluated beside the median whichever the folder serves by default
    training = model.metadata.get("training", {})
    data_info = model.metadata.get("data", {})
    dataset = _load_dataset(root, 1)
    seed = int(training.get("seed", 0))
    train_index, holdout_index, _ = vocabulary_split(dataset, float(training.get("holdout_fraction", 0.2)), seed, int(data_info.get("min_count_per_term", training.get("min_count_per_term", 5))))
    expected = data_info.get("holdout_fingerprint")
    if expected and expected != _holdout_fingerprint(dataset, holdout_index):
        raise ConfigError(
            f"{dataset.source}: its held-out contributors differ from those {model.source_name()} was trained without, so the evaluation would leak (fix: pass --root the data the model was trained on)"
        )
    median = MedianGenerator.fit(dataset.vectors()[train_index], dataset.labels()[train_index], model.terms)
    generators = [model, median, RandomGenerator(model.terms, seed)]
    if as_json:
        results = evaluate_generators(dataset, train_index, holdout_index, generators, seed)
        typer.echo(json.dumps(results, indent=2))
    else:
        with _console().status(f"evaluating on {len(holdout_index)} held-out rows (model, per-term median, random)..."):
            results = evaluate_generators(dataset, train_index, holdout_index, generators, seed)
        _print_results(results)


def _evaluate_splits(root: Optional[Path], splits: int, epochs: int, as_json: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sonolab.semantic_eq.evaluate import evaluate_splits
    from sonolab.semantic_eq.train import EqTrainConfig

    dataset = _load_dataset(root, 1)
    with Progress(TextColumn("contributor splits"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=_console(), disable=as_json) as progress:
        task = progress.add_task("splits", total=splits)
        summary = evaluate_splits(dataset, list(range(splits)), EqTrainConfig(epochs=epochs), on_split=lambda seed, result: progress.advance(task))
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
    else:
        _print_splits(summary)


@eq_app.command("plot")
def plot_command(
    out: Path = typer.Option(..., "--out", help="PNG file to write."),
    model_dir: Optional[Path] = typer.Option(None, "--model", help=MODEL_HELP),
    terms: Optional[str] = typer.Option(None, "--terms", help="Comma-separated terms to draw (default: the four most frequent)."),
    interpolate: str = typer.Option("warm,bright", "--interpolate", help="A,B: also draw the interpolation A -> B ('' for none)."),
    steps: int = typer.Option(5, "--steps", help="Settings in the interpolation, both ends included."),
    root: Optional[Path] = typer.Option(None, "--root", help="SAFE-DB folder whose human settings are drawn behind (default: the bundled copy)."),
    strength: float = typer.Option(1.0, "--strength", help=STRENGTH_HELP),
) -> None:
    """Draw magnitude responses (dB vs Hz) of generated settings over the human settings of each term."""
    from sonolab.data.paths import check_output_path, output_errors
    from sonolab.semantic_eq.generators import check_term
    from sonolab.semantic_eq.plot import plot_eq_responses

    _check_strength(strength)
    if out.suffix.lower() != ".png":
        raise ConfigError(f"{out}: --out must be a .png file, the plot is written as PNG (fix: e.g. --out {out.with_suffix('.png')})")
    check_output_path(out, "--out PNG file")
    model = _load_model(model_dir)
    chosen = [check_term(t, model.terms, model.source_name()) for t in terms.split(",")] if terms else None
    pair = None
    if interpolate:
        parts = [p.strip() for p in interpolate.split(",")]
        if len(parts) != 2:
            raise ConfigError(f"--interpolate {interpolate!r} must be two terms A,B (fix: e.g. --interpolate warm,bright)")
        pair = (check_term(parts[0], model.terms, model.source_name()), check_term(parts[1], model.terms, model.source_name()), steps)
    dataset = _load_dataset(root, int(model.metadata.get("data", {}).get("min_count_per_term", 5)))
    with output_errors(out, "--out PNG file"):
        plot_eq_responses(model, out, chosen, dataset, pair, strength)
    _console().print(f"written {out}")


def register(app: typer.Typer) -> None:
    """Add the `eq` group to `app`."""
    app.add_typer(eq_app, name="eq")
