"""The classification task plugin: cached log-mels of one trial -> one fold x seed trained, restored to its
selected validation epoch, and scored on its untouched test partition. The runner (`sonolab.train.runner`)
owns splits, trials, folds, seeds, resume and the summary.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from sonolab.atomic import atomic_path, write_json_atomic
from sonolab.audio.features import FeatureSettings, apply_reference_and_floor
from sonolab.train.feature_section import group_normalisation, logmel_settings
from sonolab.errors import ConfigError, DatasetError
from sonolab.models.group_spreading import spreading_settings
from sonolab.train.metric_names import HEADLINE_METRICS, VALIDATION_METRICS

console = Console(stderr=True)



class ReferencedMatrices(Sequence):
    """Items' matrices relative to a fold's dB reference, computed on access from the memory-mapped cache:
    a fold never holds a copy of the whole cache."""

    def __init__(self, source: Any, ids: Sequence[str], settings: FeatureSettings) -> None:
        self.source, self.ids, self.settings = source, list(ids), settings

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        return apply_reference_and_floor(self.source.get(self.ids[index]), self.settings)


@dataclass
class ClassificationData:
    """One trial's features: the cache (read by id), labels, classes, failures, waveforms for augmentation."""

    cache: Any
    labels_by_id: dict[str, int]
    classes: list[str]
    usable: set[str]
    problems: list[dict[str, str]] = field(default_factory=list)
    waveforms: dict[str, np.ndarray] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    groups_by_id: dict[str, str] = field(default_factory=dict)  # for features.group_normalisation


def _ordered(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


def freeze_settings(settings: FeatureSettings, matrices_re_unity: Any, train_ids: Sequence[str]) -> FeatureSettings:
    """For `dataset_max`, the reference over this fold's TRAIN ids only, frozen into the settings
    (`matrices_re_unity` is anything with `.get(item_id)` or `[item_id]`: the cache or a mapping)."""
    if settings.db_reference != "dataset_max":
        return settings
    from sonolab.audio.features import compute_dataset_max_reference

    read = matrices_re_unity.get if hasattr(matrices_re_unity, "get") else matrices_re_unity.__getitem__
    return settings.with_updates(dataset_max_reference=compute_dataset_max_reference((read(i) for i in train_ids), settings))


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
    matrices_re_unity: Any,
    labels_by_id: dict[str, int],
    classes: list[str],
    out_dir: Path,
    resume: bool = False,
    progress: bool = True,
    extra_callbacks: Sequence[Any] = (),
    waveforms: dict[str, np.ndarray] | None = None,
    groups_by_id: dict[str, str] | None = None,
) -> dict[str, Any] | None:
    """Train and test one fold with one seed; writes metrics.json last (the completion marker).

    `waveforms` (mono, at the feature sample rate) are needed when the recipe enables `augment.waveform`:
    the training items are then recomputed from augmented audio every epoch. `groups_by_id` (item -> group)
    is needed with `features.group_normalisation: per_group_standardise`.
    """
    import lightning as L

    from sonolab.evaluate.metrics import classification_metrics
    from sonolab.models.registry import build_model
    from sonolab.train.data import SpectrogramDataset, inverse_frequency_weights
    from sonolab.train.config import monitor_mode
    from sonolab.train.engine import fit, predict_probabilities
    from sonolab.train.export import save_model
    from sonolab.train.module import ClassifierModule

    from sonolab.train.runs import is_rank_zero

    if recipe["training"]["monitor"] not in VALIDATION_METRICS:
        raise ConfigError(f"training.monitor must be one of {', '.join(VALIDATION_METRICS)}, got {recipe['training']['monitor']!r}")
    metrics_path = out_dir / "metrics.json"
    training, framing = recipe["training"], recipe["framing"]
    settings = freeze_settings(logmel_settings(recipe["features"]), matrices_re_unity, partitions["train"])

    augment = recipe["augment"]

    source = matrices_re_unity if hasattr(matrices_re_unity, "get") else _MappingSource(matrices_re_unity)
    train_ids, val_ids, test_ids = partitions["train"], partitions["val"], partitions["test"]
    if not train_ids or not val_ids or not test_ids:
        raise DatasetError(f"fold {fold_name}: a partition is empty (train {len(train_ids)}, val {len(val_ids)}, test {len(test_ids)})")
    statistics = fold_group_statistics(recipe, source, settings, [*train_ids, *val_ids, *test_ids], groups_by_id)

    def of_items(ids: list[str]) -> list[Any] | None:
        return None if statistics is None else [statistics[str(groups_by_id.get(i, i))] for i in ids]  # type: ignore[union-attr]

    def dataset(ids: list[str], crop: str, augmented: bool) -> SpectrogramDataset:
        matrices = ReferencedMatrices(source, ids, settings)
        return SpectrogramDataset(matrices, [labels_by_id[i] for i in ids], framing["target_frames"], settings.floor_db, crop, seed,
                                  augment["spec_augment"] if augmented else None, augment["spectrogram_warp"] if augmented else None,
                                  of_items(ids))
    if augment.get("waveform", {}).get("enabled"):
        from sonolab.train.data import WaveformAugmentedDataset

        if waveforms is None:
            raise ConfigError("augment.waveform is enabled but no waveforms were loaded for the training partition")
        train_set = WaveformAugmentedDataset(
            [waveforms[i] for i in train_ids], [labels_by_id[i] for i in train_ids], settings, augment["waveform"],
            framing["target_frames"], framing["crop"], seed, augment["spec_augment"], augment["spectrogram_warp"], of_items(train_ids))
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
        mixup_alpha=float(training.get("mixup_alpha") or 0.0), backbone_lr_scale=float(training.get("backbone_lr_scale", 1.0)),
        monitor=training["monitor"], monitor_mode=monitor_mode(training),
    )
    outcome = fit(module, train_set, train_set.labels, val_set, val_set.labels, training, seed, out_dir,
                  resume=resume, progress=progress, extra_callbacks=extra_callbacks)
    if not is_rank_zero():  # a DDP rank other than 0 helped to train; rank 0 scores, saves and writes
        return None
    model = module.model.cpu()
    val_labels, val_probabilities = predict_probabilities(model, val_set)
    test_labels, test_probabilities = predict_probabilities(model, test_set)
    spreading = spreading_settings(recipe.get("group_spreading"))
    unspread: dict[str, Any] = {}
    if spreading is not None:
        unspread = {"val": classification_metrics(val_labels, val_probabilities, classes),
                    "test": classification_metrics(test_labels, test_probabilities, classes)}
        val_probabilities = spread_partition(source, settings, val_ids, groups_by_id, val_probabilities, spreading)
        test_probabilities = spread_partition(source, settings, test_ids, groups_by_id, test_probabilities, spreading)
    write_predictions(out_dir / "predictions.csv", test_ids, test_labels, test_probabilities, classes)
    normalisation = group_normalisation(recipe["features"])
    save_model(out_dir, model, recipe["model"], classes, settings, framing,
               extra={"fold": fold_name, "seed": seed, "best_epoch": outcome.best_epoch, "group_normalisation": normalisation,
                      "group_spreading": spreading.to_dict() if spreading is not None else None})
    record = {
        "fold": fold_name, "seed": seed,
        "counts": {"train": len(train_ids), "val": len(val_ids), "test": len(test_ids)},
        "fit": outcome.to_dict(),
        "val": classification_metrics(val_labels, val_probabilities, classes),
        "test": classification_metrics(test_labels, test_probabilities, classes),
        "val_monitor": outcome.best_score,
        "feature_settings": settings.to_dict(),
        **({"group_spreading": {**spreading.to_dict(), "without": unspread}} if spreading is not None else {}),
        "note": "best_epoch counts from 1; Lightning's logs/*/metrics.csv counts epochs from 0",
    }
    write_json_atomic(metrics_path, record)
    return record


def spread_partition(source: Any, settings: FeatureSettings, ids: Sequence[str], groups_by_id: dict[str, str] | None,
                     probabilities: np.ndarray, spreading: Any) -> np.ndarray:
    """`group_spreading`: each group's probabilities among `ids` smoothed over a graph of its own clips, built from
    every clip's per-band mean and std of its referenced dB matrix (no labels; transductive for a test group)."""
    from sonolab.models.group_spreading import spread_within_groups
    from sonolab.train.classical_inputs import clip_vector_of

    if not groups_by_id:
        raise ConfigError("group_spreading needs each item's group (the dataset gave none)")
    features = np.stack([clip_vector_of(apply_reference_and_floor(source.get(i), settings), "logmel") for i in ids])
    return spread_within_groups(probabilities, features, [groups_by_id.get(i, i) for i in ids], spreading)


def fold_group_statistics(recipe: dict[str, Any], source: Any, settings: FeatureSettings, item_ids: Sequence[str],
                          groups_by_id: dict[str, str] | None) -> dict[str, Any] | None:
    """With `features.group_normalisation: per_group_standardise`, each group's per-band statistics over its own
    items of this fold (all partitions: no labels are read; for the test group this is transductive, and the
    report says so), on the fold's referenced and floored dB matrices; otherwise None."""
    if group_normalisation(recipe["features"]) != "per_group_standardise":
        return None
    from sonolab.data.group_normalisation import group_band_statistics

    if groups_by_id is None:
        raise ConfigError("features.group_normalisation: per_group_standardise needs each item's group (the dataset gave none)")
    return group_band_statistics(lambda i: apply_reference_and_floor(source.get(i), settings), groups_by_id, item_ids)


class _MappingSource:
    """`.get(item_id)` over a plain mapping of matrices (tests and callers that hold matrices in memory)."""

    def __init__(self, matrices: Mapping[str, np.ndarray]) -> None:
        self.matrices = matrices

    def get(self, item_id: str) -> np.ndarray:
        return self.matrices[item_id]


def trial_cache_dir(base: Path, settings: FeatureSettings) -> Path:
    """Each trial's features live in a folder named by their own settings' fingerprint: a sweep over feature
    settings never trains a trial on another trial's features."""
    return base / f"logmel-{settings.cache_fingerprint()[:16]}"


def load_training_waveforms(recipe: dict[str, Any], index: Any, folds: Sequence[Any], usable: set[str],
                            progress: bool) -> dict[str, np.ndarray] | None:
    """Mono waveforms at the feature sample rate of every usable item some fold trains on, when the recipe
    enables `augment.waveform` (None otherwise)."""
    if not recipe["augment"].get("waveform", {}).get("enabled"):
        return None
    from rich.progress import track

    from sonolab.audio.io import load_audio

    sample_rate_hz = logmel_settings(recipe["features"]).sample_rate_hz
    needed = {item_id for fold in folds for item_id in fold.train if item_id in usable}
    paths = {item.item_id: item.path for item in index.items if item.item_id in needed}
    waveforms = {}
    for item_id, path in track(paths.items(), description="loading waveforms for augmentation", disable=not progress, transient=True):
        waveforms[item_id] = load_audio(path, target_sample_rate_hz=sample_rate_hz, mono=True)[0][0]
    return waveforms


def load_labelled_index(recipe: dict[str, Any], root: Path) -> Any:
    """The recipe's dataset at `root`; every item must carry a class label."""
    from sonolab.data.registry import load_dataset

    index = load_dataset(recipe["dataset"], root)
    if any(item.label is None for item in index.items):
        raise DatasetError(f"{root}: some items of {recipe['dataset']} have no label; classification needs one per item")
    return index


def failure_dict(failure: Any) -> dict[str, str]:
    if hasattr(failure, "to_dict"):
        return failure.to_dict()
    if isinstance(failure, dict):
        return {str(k): str(v) for k, v in failure.items()}
    return {"reason": str(failure)}


class ClassificationTask:
    """Log-mel CNN classification (every model of `sonolab.models.registry`)."""

    name = "classification"

    def check(self, recipe: dict[str, Any]) -> None:
        from sonolab.audio.augment import AugmentSettings

        from sonolab.train.feature_section import refuse_non_logmel

        refuse_non_logmel(recipe["features"], self.name, group_normalisation_allowed=True)
        AugmentSettings.from_dict({k: v for k, v in recipe["augment"]["waveform"].items() if k != "enabled"})
        settings = logmel_settings(recipe["features"])
        if recipe["model"].get("name") == "aisfx_cnn9":
            from sonolab.audio.features import AISFX_FEATURE_SETTINGS

            if settings.cache_fingerprint() != AISFX_FEATURE_SETTINGS.cache_fingerprint():
                raise ConfigError("model aisfx_cnn9 needs the aisfx input as its features (fix: set features to "
                                  f"{ {k: v for k, v in AISFX_FEATURE_SETTINGS.to_dict().items() if v is not None} })")
        from sonolab.train.config import TRAINING_DEFAULTS

        scale = recipe["training"].get("backbone_lr_scale")
        if scale != TRAINING_DEFAULTS["backbone_lr_scale"] and recipe["model"].get("name") != "aisfx_cnn9":
            raise ConfigError(f"training.backbone_lr_scale applies to a pretrained backbone (model.name: aisfx_cnn9); model "
                              f"{recipe['model'].get('name')!r} trains every layer at training.lr (fix: remove training.backbone_lr_scale)")
        warp = recipe["augment"]["spectrogram_warp"]
        if getattr(settings, "compression", "db") != "db" and warp.get("enabled") and warp.get("max_gain_db"):
            raise ConfigError("augment.spectrogram_warp.max_gain_db shifts levels in dB, but features.compression is "
                              f"{settings.compression} (fix: set augment.spectrogram_warp.max_gain_db: 0)")

    def default_monitor(self, recipe: dict[str, Any]) -> str:
        return "val_loss"

    def validation_metrics(self, recipe: dict[str, Any]) -> tuple[str, ...]:
        return VALIDATION_METRICS

    def headline_metrics(self, recipe: dict[str, Any]) -> tuple[str, ...]:
        return HEADLINE_METRICS

    def load_index(self, recipe: dict[str, Any], root: Path) -> Any:
        return load_labelled_index(recipe, root)

    def prepare(self, recipe: dict[str, Any], index: Any, folds: list[Any], cache_dir: Path, progress: bool) -> ClassificationData:
        from sonolab.data.cache import FeatureCache, build_feature_cache
        from sonolab.train.distributed import barrier
        from sonolab.train.runs import is_rank_zero

        settings = logmel_settings(recipe["features"])
        directory = trial_cache_dir(cache_dir, settings)
        if is_rank_zero():
            result = build_feature_cache(index.items, settings, directory, progress=progress)
            failures = [failure_dict(failure) for failure in (result.failures or [])]
        barrier()  # other DDP ranks open the cache once rank 0 has built it
        cache = FeatureCache.open(directory, settings)
        if not is_rank_zero():
            failures = [failure_dict(failure) for failure in cache.failures]
        classes = list(index.classes)
        usable = set(cache.item_ids)
        extras: dict[str, Any] = {"classes": classes, "feature_cache": str(directory)}
        if spreading_settings(recipe.get("group_spreading")) is not None:
            from sonolab.models.group_spreading import REPORT_NOTE

            extras.setdefault("notes", []).append(REPORT_NOTE)
        if group_normalisation(recipe["features"]) == "per_group_standardise":
            extras.setdefault("notes", []).append(
                "Group normalisation: every mel band standardised per group with that group's own mean and std over all its "
                "frames, computed without labels; for each fold's test group(s) this used their own unlabelled recordings "
                "(transductive).")
        return ClassificationData(
            cache=cache, labels_by_id={item.item_id: classes.index(item.label) for item in index.items}, classes=classes,
            usable=usable, problems=failures, waveforms=load_training_waveforms(recipe, index, folds, usable, progress),
            extras=extras, groups_by_id={item.item_id: str(item.group) for item in index.items})

    def run(self, recipe: dict[str, Any], prepared: ClassificationData, fold: str, partitions: dict[str, list[str]], seed: int,
            out_dir: Path, resume: bool, progress: bool) -> dict[str, Any] | None:
        return train_fold_seed(recipe, fold, partitions, seed, prepared.cache, prepared.labels_by_id, prepared.classes, out_dir,
                               resume=resume, progress=progress, waveforms=prepared.waveforms, groups_by_id=prepared.groups_by_id)
