"""The classification task: dataset -> leak-free splits -> cached log-mels -> every fold x seed (x sweep
trial) trained, restored to its best validation epoch, and scored on its untouched test partition.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from sonolab.atomic import atomic_path, write_json_atomic
from sonolab.audio.features import FeatureSettings, apply_reference_and_floor
from sonolab.errors import ConfigError, DatasetError
from sonolab.train.config import expand_sweep

console = Console(stderr=True)


def _ordered(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def freeze_settings(settings: FeatureSettings, matrices_re_unity: dict[str, np.ndarray], train_ids: Sequence[str]) -> FeatureSettings:
    """For `dataset_max`, the reference over this fold's TRAIN ids only, frozen into the settings."""
    if settings.db_reference != "dataset_max":
        return settings
    from sonolab.audio.features import compute_dataset_max_reference

    return settings.with_updates(dataset_max_reference=compute_dataset_max_reference((matrices_re_unity[i] for i in train_ids), settings))


def write_predictions(path: Path, item_ids: Sequence[str], labels: np.ndarray, probabilities: np.ndarray, classes: Sequence[str]) -> None:
    with atomic_path(path) as temporary, temporary.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "label", "predicted", *[f"p_{name}" for name in classes]])
        for item_id, label, row in zip(item_ids, labels, probabilities):
            writer.writerow([item_id, classes[int(label)], classes[int(np.argmax(row))], *[f"{value:.6f}" for value in row]])


def train_fold_seed(
    recipe: dict[str, Any],
    fold_name: str,
    partitions: dict[str, list[str]],
    seed: int,
    matrices_re_unity: dict[str, np.ndarray],
    labels_by_id: dict[str, int],
    classes: list[str],
    out_dir: Path,
    resume: bool = False,
    progress: bool = True,
    extra_callbacks: Sequence[Any] = (),
    waveforms: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Train and test one fold with one seed; writes metrics.json last (the completion marker).

    `waveforms` (mono, at the feature sample rate) are needed when the recipe enables `augment.waveform`:
    the training items are then recomputed from augmented audio every epoch.
    """
    import lightning as L

    from sonolab.evaluate.metrics import classification_metrics
    from sonolab.models.registry import build_model
    from sonolab.train.data import SpectrogramDataset, inverse_frequency_weights
    from sonolab.train.engine import fit, monitor_mode, predict_probabilities
    from sonolab.train.export import save_model
    from sonolab.train.module import ClassifierModule

    from sonolab.train.module import VALIDATION_METRICS

    if recipe["training"]["monitor"] not in VALIDATION_METRICS:
        raise ConfigError(f"training.monitor must be one of {', '.join(VALIDATION_METRICS)}, got {recipe['training']['monitor']!r}")
    metrics_path = out_dir / "metrics.json"
    if metrics_path.is_file():
        return json.loads(metrics_path.read_text(encoding="utf-8"))
    training, framing = recipe["training"], recipe["framing"]
    settings = freeze_settings(FeatureSettings.from_dict(recipe["features"]), matrices_re_unity, partitions["train"])

    augment = recipe["augment"]

    def dataset(ids: list[str], crop: str, augmented: bool) -> SpectrogramDataset:
        matrices = [apply_reference_and_floor(matrices_re_unity[i], settings) for i in ids]
        return SpectrogramDataset(matrices, [labels_by_id[i] for i in ids], framing["target_frames"], settings.floor_db, crop, seed,
                                  augment["spec_augment"] if augmented else None, augment["spectrogram_warp"] if augmented else None)

    train_ids, val_ids, test_ids = partitions["train"], partitions["val"], partitions["test"]
    if not train_ids or not val_ids or not test_ids:
        raise DatasetError(f"fold {fold_name}: a partition is empty (train {len(train_ids)}, val {len(val_ids)}, test {len(test_ids)})")
    if augment.get("waveform", {}).get("enabled"):
        from sonolab.train.data import WaveformAugmentedDataset

        if waveforms is None:
            raise ConfigError("augment.waveform is enabled but no waveforms were loaded for the training partition")
        train_set = WaveformAugmentedDataset(
            [waveforms[i] for i in train_ids], [labels_by_id[i] for i in train_ids], settings, augment["waveform"],
            framing["target_frames"], framing["crop"], seed, augment["spec_augment"], augment["spectrogram_warp"])
    else:
        train_set = dataset(train_ids, framing["crop"], augmented=True)
    val_set = dataset(val_ids, framing["eval_crop"], augmented=False)
    test_set = dataset(test_ids, framing["eval_crop"], augmented=False)
    L.seed_everything(seed, workers=True, verbose=False)
    model = build_model(recipe["model"], len(classes))
    weights = inverse_frequency_weights(train_set.labels, len(classes)) if training.get("class_weights") else None
    module = ClassifierModule(
        model, len(classes), lr=float(training["lr"]), weight_decay=float(training["weight_decay"]),
        scheduler=training["scheduler"], max_epochs=int(training["epochs"]), class_weights=weights,
        label_smoothing=float(training.get("label_smoothing", 0.0)), seed=seed,
        mixup_alpha=float(training.get("mixup_alpha") or 0.0),
        monitor=training["monitor"], monitor_mode=monitor_mode(training),
    )
    outcome = fit(module, train_set, train_set.labels, val_set, val_set.labels, training, seed, out_dir,
                  resume=resume, progress=progress, extra_callbacks=extra_callbacks)
    model = module.model.cpu()
    val_labels, val_probabilities = predict_probabilities(model, val_set)
    test_labels, test_probabilities = predict_probabilities(model, test_set)
    write_predictions(out_dir / "predictions.csv", test_ids, test_labels, test_probabilities, classes)
    save_model(out_dir, model, recipe["model"], classes, settings, framing,
               extra={"fold": fold_name, "seed": seed, "best_epoch": outcome.best_epoch})
    record = {
        "fold": fold_name, "seed": seed,
        "counts": {"train": len(train_ids), "val": len(val_ids), "test": len(test_ids)},
        "fit": outcome.to_dict(),
        "val": classification_metrics(val_labels, val_probabilities, classes),
        "test": classification_metrics(test_labels, test_probabilities, classes),
        "feature_settings": settings.to_dict(),
        "note": "best_epoch counts from 1; Lightning's logs/*/metrics.csv counts epochs from 0",
    }
    write_json_atomic(metrics_path, record)
    return record


def load_features(recipe: dict[str, Any], index: Any, out_dir: Path, progress: bool) -> tuple[dict[str, np.ndarray], list[dict[str, str]]]:
    """Build (or reuse) the feature cache and read every item's dB-re-unity matrix; lists failures."""
    from sonolab.data.cache import FeatureCache, build_feature_cache

    settings = FeatureSettings.from_dict(recipe["features"])
    cache_dir = Path(recipe["cache_dir"]) if recipe.get("cache_dir") else out_dir / "cache"
    result = build_feature_cache(index.items, settings, cache_dir, progress=progress)
    cache = FeatureCache.open(cache_dir, settings)
    failures = [_failure_dict(failure) for failure in (result.failures or [])]
    matrices = {item_id: cache.get(item_id) for item_id in cache.item_ids}
    return matrices, failures


def load_training_waveforms(recipe: dict[str, Any], index: Any, folds: Sequence[Any], matrices: dict[str, np.ndarray],
                            progress: bool) -> dict[str, np.ndarray] | None:
    """Mono waveforms at the feature sample rate of every item some fold trains on, when any sweep trial
    enables `augment.waveform` (None otherwise). Items whose features failed are already excluded."""
    if not any(trial["augment"].get("waveform", {}).get("enabled") for _, _, trial in expand_sweep(recipe)):
        return None
    from rich.progress import track

    from sonolab.audio.io import load_audio

    sample_rate_hz = FeatureSettings.from_dict(recipe["features"]).sample_rate_hz
    needed = {item_id for fold in folds for item_id in fold.train if item_id in matrices}
    paths = {item.item_id: item.path for item in index.items if item.item_id in needed}
    waveforms = {}
    for item_id, path in track(paths.items(), description="loading waveforms for augmentation", disable=not progress, transient=True):
        waveforms[item_id] = load_audio(path, target_sample_rate_hz=sample_rate_hz, mono=True)[0][0]
    return waveforms


def _failure_dict(failure: Any) -> dict[str, str]:
    if hasattr(failure, "to_dict"):
        return failure.to_dict()
    if isinstance(failure, dict):
        return {str(k): str(v) for k, v in failure.items()}
    return {"reason": str(failure)}


def run_classification(recipe: dict[str, Any], root: str | Path, out_dir: str | Path, resume: bool = False, progress: bool = True) -> Path:
    """Run every sweep trial x fold x seed of a classification recipe; writes `summary.json`."""
    from sonolab.data.registry import load_dataset
    from sonolab.data.splits import load_splits, make_splits, save_splits
    from sonolab.train.runs import prepare_run_dir, summarize_records

    out_dir = prepare_run_dir(out_dir, recipe, resume)
    index = load_dataset(recipe["dataset"], root)
    if any(item.label is None for item in index.items):
        raise DatasetError(f"{root}: some items of {recipe['dataset']} have no label; classification needs one per item")
    classes = list(index.classes)
    labels_by_id = {item.item_id: classes.index(item.label) for item in index.items}
    split = recipe["split"]
    splits_path = out_dir / "splits.json"
    if resume and splits_path.is_file():
        splits = load_splits(splits_path)
    else:
        splits = make_splits(index, split["strategy"], seed=int(split["seed"]), n_folds=int(split["folds"]),
                             val_fraction=float(split["val_fraction"]), test_fraction=float(split["test_fraction"]))
        save_splits(splits, splits_path)
    matrices, failures = load_features(recipe, index, out_dir, progress)
    problems = [problem.to_dict() for problem in index.problems]
    write_json_atomic(out_dir / "failures.json", {"feature_failures": failures, "dataset_problems": problems})
    if failures or problems:
        console.print(f"[yellow]{len(failures)} file(s) failed feature extraction and {len(problems)} dataset problem(s); "
                      f"they are excluded and listed in {out_dir / 'failures.json'}[/]")
    folds = splits.folds[: split["max_folds"]] if split.get("max_folds") else splits.folds
    waveforms = load_training_waveforms(recipe, index, folds, matrices, progress)
    trials = expand_sweep(recipe)
    trial_summaries = []
    for trial_name, trial_values, trial_recipe in trials:
        trial_dir = out_dir / trial_name if trial_name else out_dir
        records = []
        for fold in folds:
            partitions = {name: [i for i in ids if i in matrices] for name, ids in fold.partitions().items()}
            for seed in trial_recipe["seeds"]:
                label = f"{trial_name + ' ' if trial_name else ''}{fold.name} seed {seed}"
                seed_dir = trial_dir / fold.name / f"seed_{seed}"
                if (seed_dir / "metrics.json").is_file():
                    console.print(f"{label}: complete, skipped")
                else:
                    console.print(f"{label}: training on {len(partitions['train'])} items, selecting on {len(partitions['val'])}, testing on {len(partitions['test'])}")
                record = train_fold_seed(trial_recipe, fold.name, partitions, seed, matrices, labels_by_id, classes,
                                         seed_dir, resume=resume, progress=progress, waveforms=waveforms)
                console.print(f"{label}: best epoch {record['fit']['best_epoch']}, test accuracy {record['test']['accuracy']:.3f}, "
                              f"balanced accuracy {record['test']['balanced_accuracy']:.3f}")
                records.append(record)
        summary = {
            "task": "classification", "dataset": recipe["dataset"], "classes": classes, "monitor": trial_recipe["training"]["monitor"],
            "folds": [fold.name for fold in folds], "seeds": trial_recipe["seeds"], "sweep_values": trial_values,
            "feature_failures": len(failures), "dataset_problems": len(problems),
            **summarize_records(records),
        }
        if trial_name:
            write_json_atomic(trial_dir / "summary.json", summary)
        trial_summaries.append((trial_name, summary))
    if len(trial_summaries) == 1:
        final = trial_summaries[0][1]
    else:
        mode_min = str(recipe["training"]["monitor"]).endswith("loss") if recipe["training"].get("monitor_mode") is None else recipe["training"]["monitor_mode"] == "min"
        key = lambda item: item[1]["val_monitor"]["mean"] * (1 if mode_min else -1)  # noqa: E731
        best_name, best = min(trial_summaries, key=key)
        final = {**best, "best_trial": best_name, "selected_by": f"mean validation {recipe['training']['monitor']} (never test)",
                 "trials": [{"trial": name, "sweep_values": s["sweep_values"], "val_monitor": s["val_monitor"],
                             **{metric: s["metrics"][metric] for metric in ("accuracy", "balanced_accuracy", "macro_f1")}}
                            for name, s in trial_summaries]}
    write_json_atomic(out_dir / "summary.json", final)
    return out_dir
