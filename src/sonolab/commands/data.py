"""`sonolab` commands of the data group: verify, features, split, audit (registered by `sonolab.cli`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

DATASET_HELP = ("Dataset format: esc50, emodb, fsdd, merge (or merge_audio, merge_lyrics, merge_bimodal, each optionally "
                "ending in _complete or _balanced), 4q or folder.")
ROOT_HELP = "Dataset root folder (for folder: a class_name/ tree, a folder with labels.csv, or the CSV itself)."


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def verify(
    dataset: str = typer.Argument(..., help=DATASET_HELP),
    root: Path = typer.Option(..., "--root", help=ROOT_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print the full report as JSON (every problem listed)."),
    workers: int = typer.Option(None, "--workers", help="Decoding processes (default: min(2, CPU count))."),
    near_duplicates: bool = typer.Option(False, "--near-duplicates",
                                         help="Also find clusters of recordings that are copies of one another (re-cut, noisy, re-encoded, pitch-shifted, stretched); fingerprints every file."),
) -> None:
    """Check a dataset's integrity: metadata vs files, undecodable audio, names, duplicates and near-duplicates. Exit 1 on any problem."""
    from sonolab.data.verify import verify_dataset

    report = verify_dataset(dataset, root, workers=workers, progress=not json_output, near_duplicates=near_duplicates)
    if json_output:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        console = _console()
        table = Table(title=f"sonolab verify {report.dataset} ({report.root})")
        table.add_column("check")
        table.add_column("value", justify="right")
        table.add_row("audio files", f"{report.file_count:,}")
        table.add_row("usable items", f"{report.item_count:,}")
        table.add_row("decoded without problems", f"{report.readable_count:,}")
        table.add_row("classes", str(report.class_count))
        table.add_row(report.group_unit, str(report.group_count))
        table.add_row("problems", str(len(report.problems)))
        console.print(table)
        if dataset == "folder":
            from sonolab.data.folder import grouping_note
            from sonolab.data.registry import load_dataset

            note = grouping_note(load_dataset("folder", root, strict=False))
            if note:
                console.print(f"[yellow]note[/]: {note}")
        if report.class_counts:
            counts = ", ".join(f"{name}: {count}" for name, count in report.class_counts.items())
            console.print(f"class counts: {counts}")
        if report.songs_per_artist:
            stats = report.songs_per_artist
            console.print(f"songs per artist: {stats['artists']} artists, at most {stats['max_songs_per_artist']} songs by one artist, "
                          f"{stats['artists_with_several_songs']} artists with more than one song, {stats['songs_without_artist']} songs without an artist")
        for problem in report.problems:
            where = "" if problem.path in problem.reason else f"{problem.path}: "
            console.print(f"[red]{problem.kind}[/]: {where}{problem.reason}")
        summary = ", ".join(f"{kind}: {count}" for kind, count in report.problem_counts().items())
        console.print(
            f"{report.file_count:,} files, {report.group_count} {report.group_unit}, {report.class_count} classes, "
            + (f"[red]{len(report.problems)} problems ({summary})[/]" if report.problems else "[green]no problems[/]")
        )
    if not report.ok:
        raise typer.Exit(1)


def _load_settings(path: Path):
    """FeatureSettings from a JSON file; any problem with the file is one ConfigError naming it."""
    from sonolab.audio.features import FeatureSettings
    from sonolab.errors import ConfigError, SonolabError

    try:
        return FeatureSettings.load(path)
    except SonolabError as error:
        raise ConfigError(f"{path}: {error} (fix: correct the --settings file)") from error
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the --settings file ({error.strerror or error}) (fix: pass an existing FeatureSettings JSON)") from error
    except (ValueError, TypeError, AttributeError) as error:  # invalid JSON, not an object, wrong value types
        raise ConfigError(f"{path}: not a FeatureSettings JSON ({error}) (fix: write it with FeatureSettings.save, or copy settings.json from a cache)") from error


def features(
    dataset: str = typer.Argument(..., help=DATASET_HELP),
    root: Path = typer.Option(..., "--root", help=ROOT_HELP),
    out: Path = typer.Option(..., "--out", help="Cache folder to create (rebuilt when settings or files change)."),
    sample_rate_hz: int = typer.Option(16000, "--sample-rate-hz", help="Resample every file to this rate (Hz)."),
    n_mels: int = typer.Option(64, "--n-mels", help="Number of mel bands."),
    hop_length_samples: int = typer.Option(256, "--hop-length-samples", help="STFT hop (samples at --sample-rate-hz)."),
    n_fft: int = typer.Option(1024, "--n-fft", help="FFT size (samples)."),
    min_frequency_hz: float = typer.Option(0.0, "--min-frequency-hz", help="Lowest mel band edge (Hz)."),
    max_frequency_hz: float = typer.Option(None, "--max-frequency-hz", help="Highest mel band edge (Hz; default Nyquist)."),
    settings_file: Path = typer.Option(None, "--settings", help="FeatureSettings JSON; overrides the options above."),
    workers: int = typer.Option(None, "--workers", help="Decoding processes (default: min(2, CPU count))."),
) -> None:
    """Compute log-mel features (dB re unity) once into a memory-mapped cache; list every failed file."""
    from sonolab.audio.features import FeatureSettings
    from sonolab.data.cache import FAILURES_FILE, build_feature_cache
    from sonolab.data.paths import check_output_path, output_errors
    from sonolab.data.registry import load_dataset

    if settings_file is not None:
        settings = _load_settings(settings_file)
    else:
        settings = FeatureSettings(sample_rate_hz=sample_rate_hz, n_fft=n_fft, hop_length_samples=hop_length_samples,
                                   n_mels=n_mels, min_frequency_hz=min_frequency_hz, max_frequency_hz=max_frequency_hz)
    check_output_path(out, "--out cache folder", directory=True)
    index = load_dataset(dataset, root, strict=False)
    with output_errors(out, "--out cache folder"):
        result = build_feature_cache(index.items, settings, out, workers=workers, progress=True, known_failures=index.problems)
    console = _console()
    state = "rebuilt" if result.rebuilt else "reused"
    console.print(f"cache {state} at {result.cache_dir} ({result.reason}); settings fingerprint {settings.cache_fingerprint()}")
    console.print(f"cached {result.cached_count:,} items; {len(result.failures)} failures (listed in {result.cache_dir / FAILURES_FILE})")
    for problem in result.failures:
        console.print(f"[red]failed[/]: {problem.path}: {problem.reason}")


def split(
    dataset: str = typer.Argument(..., help=DATASET_HELP),
    root: Path = typer.Option(..., "--root", help=ROOT_HELP),
    strategy: str = typer.Option(..., "--strategy", help="official, group-kfold, loso or holdout."),
    out: Path = typer.Option(..., "--out", help="Splits JSON file to write."),
    seed: int = typer.Option(0, "--seed", help="Random seed of the grouped shuffles."),
    folds: int = typer.Option(5, "--folds", help="Number of folds for group-kfold."),
    val_fraction: float = typer.Option(0.15, "--val-fraction", help="Share of all items for validation (0-1), carved from training groups."),
    test_fraction: float = typer.Option(0.15, "--test-fraction", help="Share of all items for test in holdout (0-1)."),
) -> None:
    """Write leak-free grouped train/val/test partitions for every fold."""
    from sonolab.data.paths import check_output_path, output_errors
    from sonolab.data.registry import load_dataset
    from sonolab.data.splits import make_splits, partition_summary, save_splits

    check_output_path(out, "--out splits file")
    index = load_dataset(dataset, root, strict=True)
    console = _console()
    if index.problems:
        console.print(f"[yellow]{len(index.problems)} files left out of the split[/] (run `sonolab verify` for details):")
        for problem in index.problems:
            console.print(f"  {problem.path}: {problem.reason}")
    splits = make_splits(index, strategy, seed=seed, n_folds=folds, val_fraction=val_fraction, test_fraction=test_fraction)
    with output_errors(out, "--out splits file"):
        save_splits(splits, out)
    table = Table(title=f"{dataset} {strategy} splits -> {out}")
    for column in ("fold", "train", "val", "test", "train groups", "val groups", "test groups"):
        table.add_column(column, justify="right")
    for row in partition_summary(splits):
        table.add_row(row["fold"], str(row["train"]), str(row["val"]), str(row["test"]),
                      str(row["train_groups"]), str(row["val_groups"]), str(row["test_groups"]))
    console.print(table)
    if splits.note:
        console.print(f"note: {splits.note}")
    console.print(f"{len(splits.folds)} folds, {len(splits.groups)} items, {len(set(splits.groups.values()))} groups written to {out}")


def audit(
    splits_path: Path = typer.Argument(..., help="Splits JSON written by `sonolab split`."),
    root: Path = typer.Option(None, "--root", help="Dataset root for the audio checks (default: the root recorded in the splits file)."),
    json_output: bool = typer.Option(False, "--json", help="Print the full report as JSON."),
    workers: int = typer.Option(None, "--workers", help="Decoding processes (default: min(2, CPU count))."),
    cache: Path = typer.Option(None, "--cache", help="Folder to keep audio fingerprints in (e.g. the feature cache); reused while the files are unchanged."),
) -> None:
    """Find leaks between partitions: shared groups, variants beside their parents, identical audio, and copies (re-cut, noisy, reverberant, resampled, re-encoded, pitch-shifted, time-stretched). Exit 1 on a leak or on audio that could not be checked."""
    from sonolab.data.audit import audit_splits
    from sonolab.data.splits import load_splits

    splits = load_splits(splits_path)
    report = audit_splits(splits, root=root, workers=workers, progress=not json_output, cache_dir=cache)
    if json_output:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        console = _console()
        counts = ", ".join(f"{kind}: {count}" for kind, count in report.counts().items())
        audio = "with audio checks" if report.audio_checked else "[yellow]groups and parents only (no audio found: pass --root DIR)[/]"
        console.print(f"audited {report.folds_checked} folds, {report.items_checked:,} items, {audio}")
        for leak in report.leaks:
            console.print(f"[red]LEAK[/] {leak.fold} {leak.kind}: {leak.detail}; ids: {', '.join(leak.ids)}")
        for problem in report.unchecked[:20]:
            console.print(f"[yellow]not checked[/]: {problem.item_id}: {problem.reason}")
        if len(report.unchecked) > 20:
            console.print(f"[yellow]... and {len(report.unchecked) - 20} more not checked (see --json)[/]")
        unchecked = f"; [red]{len(report.unchecked)} items could not be checked[/] (listed above)" if report.unchecked else ""
        if report.ok:
            console.print(f"[green]no leaks[/] ({counts}){unchecked}")
        else:
            console.print(f"[red]{len(report.leaks)} leaks[/] ({counts}){unchecked}")
    if not report.ok or report.unchecked:  # an item that could not be checked is not known to be leak-free
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add this group's commands to `app`."""
    app.command("verify")(verify)
    app.command("features")(features)
    app.command("split")(split)
    app.command("audit")(audit)
