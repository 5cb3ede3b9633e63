"""The one runner of every task: recipe -> splits (made once, saved, reloaded on resume) -> leakage audit ->
for each sweep trial: features of that trial -> for each fold x seed: the task plugin -> records -> summary.

Tasks (`sonolab.train.tasks`) supply data, model, metrics and predictions; everything here is shared, so
resume, sweeps, DDP and the summary convention mean the same for every task.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from sonolab.atomic import write_json_atomic
from sonolab.errors import ConfigError
from sonolab.models.group_spreading import require_shared_groups, spreading_requested
from sonolab.train.config import expand_sweep, monitor_mode, validate_recipe
from sonolab.train.runs import default_run_dir, is_rank_zero, prepare_run_dir, read_marker
from sonolab.train.summary import spreading_summary, summarize_records

console = Console(stderr=True)


def _say(message: str) -> None:
    """One console line, from rank 0 only (DDP ranks walk the same loop)."""
    if is_rank_zero():
        console.print(message)
RUN_DIR_VARIABLE = "SONOLAB_RUN_DIR"  # the run folder, inherited by DDP ranks that Lightning re-launches


def _load_or_make_splits(recipe: dict[str, Any], index: Any, out_dir: Path, resume: bool) -> Any:
    """The run's splits: made once and saved; reloaded on resume (and by DDP ranks other than 0)."""
    from sonolab.data.splits import load_splits, make_splits, save_splits

    path = out_dir / "splits.json"
    if path.is_file() and (resume or not is_rank_zero()):
        splits = load_splits(path)
        saved = {item_id for fold in splits.folds for ids in fold.partitions().values() for item_id in ids}
        current = {item.item_id for item in index.items}
        if saved - current or current - saved:
            missing, added = sorted(saved - current), sorted(current - saved)
            raise ConfigError(f"{path}: the dataset changed since the run started ({len(missing)} item(s) gone, e.g. "
                              f"{missing[:3]}; {len(added)} new, e.g. {added[:3]}) (fix: restore the data, or start a new run)")
        return splits
    split = recipe["split"]
    splits = make_splits(index, split["strategy"], seed=int(split["seed"]), n_folds=int(split["folds"]),
                         val_fraction=float(split["val_fraction"]), test_fraction=float(split["test_fraction"]))
    save_splits(splits, path)
    return splits


def _content_check(index: Any, audit: dict[str, Any]) -> tuple[bool, str]:
    """Whether the audit compares audio content, and why (the content index is slow on hours of audio)."""
    if audit["content"] == "never":
        return False, "not compared (audit.content: never)"
    if audit["content"] == "always":
        return True, "compared across every partition (audit.content: always)"
    import soundfile as sf

    seconds = 0.0
    for item in index.items:
        try:
            seconds += float(sf.info(str(item.path)).duration)
        except Exception:  # an unreadable file is listed by the feature cache; it adds nothing here
            continue
    minutes, budget = seconds / 60.0, float(audit["max_audio_minutes"])
    if minutes > budget:
        return False, (f"not compared: {minutes:.0f} min of audio is above audit.max_audio_minutes = {budget:.0f} (fix: set "
                       "audit.content: always to compare it before training, or run `sonolab audit SPLITS.json` separately)")
    return True, f"compared across every partition ({minutes:.1f} min of audio)"


def _audit(index: Any, splits: Any, cache_dir: Path, out_dir: Path, allow_leaks: str | None, progress: bool,
           audit: dict[str, Any]) -> None:
    """Every training audits its splits before any training: groups, augmented parents, and copies of the same audio
    (re-cut, re-encoded, noisy, reverberant, pitch-shifted, time-stretched) across partitions. A leak stops the run
    with the offending ids and the fix, unless `allow_leaks` gives a reason (written into the run and its report)."""
    from sonolab.data.leak_gate import audit_training_splits

    check_audio, note = _content_check(index, audit)
    if not check_audio:
        _say(f"[yellow]leakage audit: groups and parents only; audio content {note}[/]")
    payload = audit_training_splits(index, splits, cache_dir, out_dir, allow_leaks, progress, check_audio=check_audio, note=note)
    if payload.get("allowed"):
        _say(f"[yellow]leakage audit: {len(payload.get('leaks', []))} leak(s) allowed by --allow-leaks: {allow_leaks}[/]")


def _note_missing_classes(folds: list[Any], labels: dict[str, Any]) -> None:
    """Say once, in words, when validation or test partitions lack classes that training has (normal when whole
    speakers are held out) instead of a library warning per fold and epoch."""
    short = 0
    for fold in folds:
        trained = {labels.get(i) for i in fold.train} - {None}
        if any(trained - {labels.get(i) for i in ids} for ids in (fold.val, fold.test)):
            short += 1
    if short:
        _say(f"note: in {short} of {len(folds)} fold(s) the validation or test partition lacks some classes (normal when whole "
             "speakers or recordings are held out); balanced accuracy and macro-F1 average over the classes present")


def _selection_key(summary: dict[str, Any], mode: str) -> float:
    value = summary["val_monitor"]["mean"]
    if value is None:
        return float("inf")
    return value if mode == "min" else -value


def run_recipe(recipe: dict[str, Any], root: str | Path | None = None, out_dir: str | Path | None = None,
               resume: bool = False, progress: bool = True, allow_leaks: str | None = None) -> Path:
    """Validate `recipe`, then run it (see `run`); returns the run folder."""
    return run(recipe, root=root, out_dir=out_dir, resume=resume, progress=progress, allow_leaks=allow_leaks)


def run(recipe: dict[str, Any], root: str | Path | None = None, out_dir: str | Path | None = None, resume: bool = False,
        progress: bool = True, allow_leaks: str | None = None) -> Path:
    """Run every sweep trial x fold x seed of `recipe`; returns the run folder (with `summary.json`).

    `root` overrides the recipe's `root`; `out_dir` defaults to `runs/<name>-<timestamp>`; `allow_leaks` is
    the reason to train although the audit found a leak (written into the run and its report).
    """
    from sonolab.train.tasks import get_task

    resolved = validate_recipe(recipe)
    plugin = get_task(resolved.get("task") or "classification")
    data_root = root if root is not None else resolved.get("root")
    if not data_root:
        raise ConfigError("no data root: pass --root DIR or set 'root' in the recipe")
    resolved["root"] = str(data_root)
    out_dir = Path(out_dir or os.environ.get(RUN_DIR_VARIABLE) or default_run_dir(resolved))
    started_s = time.perf_counter()
    index = plugin.load_index(resolved, Path(data_root))  # before the run folder: a bad root creates nothing
    timings: dict[str, Any] = {"load_index_s": time.perf_counter() - started_s}
    if spreading_requested(resolved):  # before the run folder, like a bad root
        require_shared_groups([item.group for item in index.items], str(resolved["dataset"]))
    out_dir = prepare_run_dir(out_dir, resolved, resume)
    previous = os.environ.get(RUN_DIR_VARIABLE)
    os.environ[RUN_DIR_VARIABLE] = str(out_dir.resolve())
    try:
        return _run_trials(resolved, plugin, index, out_dir, resume, progress, allow_leaks, timings)
    finally:
        if previous is None:
            os.environ.pop(RUN_DIR_VARIABLE, None)
        else:
            os.environ[RUN_DIR_VARIABLE] = previous


def _run_trials(recipe: dict[str, Any], plugin: Any, index: Any, out_dir: Path, resume: bool, progress: bool,
                allow_leaks: str | None, timings: dict[str, Any]) -> Path:
    """Splits, audit, every trial, the baseline and the summary; wall times of each stage go to `timings.json`."""
    started_s = time.perf_counter()
    splits = _load_or_make_splits(recipe, index, out_dir, resume)
    cache_dir = Path(recipe["cache_dir"]) if recipe.get("cache_dir") else out_dir / "cache"
    timings["splits_s"] = time.perf_counter() - started_s
    started_s = time.perf_counter()
    if is_rank_zero():
        _audit(index, splits, cache_dir, out_dir, allow_leaks, progress, recipe["audit"])
    timings["audit_s"] = time.perf_counter() - started_s
    timings["items"] = len(index.items)
    timings["trials"] = {}
    split = recipe["split"]
    folds = splits.folds[: split["max_folds"]] if split.get("max_folds") else splits.folds
    _note_missing_classes(folds, splits.labels)
    dataset_problems = [problem.to_dict() for problem in index.problems]
    trial_summaries: list[tuple[str, dict[str, Any]]] = []
    failures: dict[str, Any] = {"dataset_problems": dataset_problems, "trials": {}}
    for trial_name, trial_values, trial_recipe in expand_sweep(recipe):
        trial_dir = out_dir / trial_name if trial_name else out_dir
        summary = _run_trial(plugin, trial_recipe, index, folds, cache_dir, trial_dir, out_dir, failures, trial_name or "run",
                             resume, progress, timings["trials"].setdefault(trial_name or "run", {}))
        if summary is not None:
            trial_summaries.append((trial_name, {**summary, "sweep_values": trial_values}))
    if not is_rank_zero():
        return out_dir
    final = _final_summary(recipe, trial_summaries)
    baseline = baseline_recipe(recipe, plugin.name)
    skipped = baseline_skip_reason(index) if baseline is not None else None
    if skipped:
        _say(f"baseline: not run ({skipped})")
        final["baseline_skipped"] = skipped
        baseline = None
    if baseline is not None:
        from sonolab.train.tasks import get_task

        _say(f"baseline beside the model: {describe_baseline(baseline)} on the same folds")
        baseline_summary = _run_trial(get_task("classical"), baseline, index, folds, cache_dir, out_dir / "baseline", out_dir,
                                      failures, "baseline", resume, progress, timings.setdefault("baseline", {}))
        final["baseline"] = {"description": describe_baseline(baseline), "folder": "baseline",
                             "metrics": baseline_summary["metrics"], "per_fold": baseline_summary["per_fold"]}
    write_json_atomic(out_dir / "summary.json", final)
    write_json_atomic(out_dir / "timings.json", {
        **timings, "note": "wall seconds of each stage of this process (resumed folds are not re-timed); features_s "
                           "includes decoding and any cache reuse check, fit_s every fold x seed of the trial"})
    return out_dir


def baseline_recipe(recipe: dict[str, Any], task: str) -> dict[str, Any] | None:
    """The classical baseline's recipe (same dataset, splits and seeds), or None when off or the same as the model
    itself. For `bimodal` it is the quadrant baseline: audio functionals + the head, scored on the quadrants."""
    section = recipe.get("baseline") or {}
    if not section.get("enabled"):
        return None
    if task not in ("classification", "classical", "bimodal"):
        raise ConfigError(f"baseline.enabled: the {task} task has no classical baseline (fix: baseline.enabled: false)")
    baseline = {"task": "classical", "dataset": recipe["dataset"], "root": recipe.get("root"), "name": "baseline",
                "cache_dir": recipe.get("cache_dir"), "split": recipe["split"], "seeds": recipe["seeds"][:1],
                "features": dict(section["features"]), "head": dict(section["head"]), "baseline": {"enabled": False}}
    resolved = validate_recipe(baseline, "baseline")
    if task == "classical" and resolved["features"] == recipe["features"] and resolved["head"] == recipe["head"]:
        return None
    return resolved


def baseline_skip_reason(index: Any) -> str | None:
    """Why a baseline on audio features cannot run on this index (its items are lyrics files), else None."""
    if index.items and all(Path(str(item.path)).suffix.lower() == ".txt" for item in index.items):
        return "the dataset's items are lyrics files; the baseline needs audio (fix: baseline.enabled: false)"
    return None


def describe_baseline(baseline: dict[str, Any]) -> str:
    return f"{baseline['features'].get('kind', 'logmel')} features + {baseline['head']['name'].replace('_', ' ')}"


def _run_trial(plugin: Any, trial_recipe: dict[str, Any], index: Any, folds: list[Any], cache_dir: Path, trial_dir: Path,
               out_dir: Path, failures: dict[str, Any], failure_key: str, resume: bool, progress: bool,
               timings: dict[str, Any]) -> dict[str, Any] | None:
    """Features of one trial, then every fold x seed (skipping finished ones); its summary (None on other DDP ranks).
    `timings` receives the trial's `features_s` and `fit_s` (wall seconds)."""
    dataset_problems = failures["dataset_problems"]
    started_s = time.perf_counter()
    prepared = plugin.prepare(trial_recipe, index, folds, cache_dir, progress)
    timings["features_s"] = time.perf_counter() - started_s
    timings["fit_s"] = 0.0
    failures["trials"][failure_key] = prepared.problems
    if is_rank_zero():
        everything = dataset_problems + prepared.problems
        write_json_atomic(out_dir / "failures.json", {"count": len(everything), "problems": everything,
                                                      "feature_failures": prepared.problems, **failures})
        if prepared.problems or dataset_problems:
            _say(f"[yellow]{len(prepared.problems)} item(s) failed feature extraction and {len(dataset_problems)} "
                 f"dataset problem(s); they are excluded and listed in {out_dir / 'failures.json'}[/]")
    records = []
    prefix = "" if trial_dir == out_dir else f"{trial_dir.name} "
    for fold in folds:
        partitions = {name: [i for i in ids if i in prepared.usable] for name, ids in fold.partitions().items()}
        for seed in trial_recipe["seeds"]:
            label = f"{prefix}{fold.name} seed {seed}"
            seed_dir = trial_dir / fold.name / f"seed_{seed}"
            record = read_marker(seed_dir / "metrics.json")
            if record is not None:
                _say(f"{label}: complete, skipped")
            else:
                _say(f"{label}: training on {len(partitions['train'])} items, selecting on "
                     f"{len(partitions['val'])}, testing on {len(partitions['test'])}")
                started_s = time.perf_counter()
                record = plugin.run(trial_recipe, prepared, fold.name, partitions, int(seed), seed_dir, resume, progress)
                timings["fit_s"] += time.perf_counter() - started_s
                if record is None:  # a DDP rank other than 0
                    continue
                _say(_record_line(label, record))
            records.append(record)
    if not is_rank_zero():
        return None
    summary = {
        "task": plugin.name, "dataset": trial_recipe["dataset"], "monitor": trial_recipe["training"]["monitor"],
        "folds": [fold.name for fold in folds], "seeds": trial_recipe["seeds"],
        "feature_failures": len(prepared.problems), "dataset_problems": len(dataset_problems),
        **prepared.extras, **summarize_records(records, plugin.headline_metrics(trial_recipe)),
    }
    spreading = spreading_summary(records, plugin.headline_metrics(trial_recipe))
    if spreading is not None:
        summary["group_spreading"] = spreading
    if hasattr(plugin, "summary_extras"):  # e.g. the classical task's modality ablation and regression heads
        summary.update(plugin.summary_extras(trial_recipe, records))
    if trial_dir != out_dir:
        write_json_atomic(trial_dir / "summary.json", summary)
    return summary


def _record_line(label: str, record: dict[str, Any]) -> str:
    test = record["test"]
    shown = [f"{name.replace('_', ' ')} {test[name]:.3f}" for name in ("accuracy", "balanced_accuracy", "macro_f1", "mean_ccc")
             if isinstance(test.get(name), (int, float))]
    epoch = (record.get("fit") or {}).get("best_epoch")
    return f"{label}: {'restored epoch ' + str(epoch) + ', ' if epoch else ''}test {', '.join(shown)}"


def _final_summary(recipe: dict[str, Any], trial_summaries: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The run's summary: the only trial, or the trial with the best mean validation monitor. Unselected trials
    show validation scores only: their test scores took no part and must not be read."""
    if len(trial_summaries) == 1:
        return trial_summaries[0][1]
    mode = monitor_mode(recipe["training"])
    best_name, best = min(trial_summaries, key=lambda item: _selection_key(item[1], mode))
    return {**best, "best_trial": best_name,
            "selected_by": f"mean validation {recipe['training']['monitor']} over folds and seeds (never test)",
            "trials": [{"trial": name, "sweep_values": s["sweep_values"], "val_monitor": s["val_monitor"],
                        "val_metrics": s["val_metrics"], "selected": name == best_name}
                       for name, s in trial_summaries]}
