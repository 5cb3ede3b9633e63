"""The `classical` task plugin: clip vectors of any feature kind (a pretrained embedding, functionals, openSMILE)
-> optional per-group standardisation -> a scikit-learn head whose hyperparameters are chosen by an inner
cross-validation grouped by the training rows' groups (never the test fold), scored on the test partition.

Recipe sections used: `features` (`kind` + that kind's settings, `group_normalisation`), `head` (`name`:
logistic_regression | linear_svm | rbf_svm, `fit_on`: train | train_val, and `sonolab.models.classical.
ClassicalHeadSettings` fields), `seeds` (the heads are deterministic; the seed only seeds the inner folds),
`training.monitor` (`val_<scoring>`: the inner-CV score, what a sweep selects on). CNN-only sections (`model`,
`framing`, `augment`, and the training schedule) do nothing here and are refused when changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sonolab.atomic import write_json_atomic
from sonolab.errors import ConfigError, DatasetError
from sonolab.train.feature_section import feature_kind, group_normalisation, kind_settings

HEAD_DEFAULTS: dict[str, Any] = {
    "name": "linear_svm",  # logistic_regression | linear_svm | rbf_svm
    "fit_on": "train_val",  # train_val: the inner CV selects, so the validation partition also trains; train: it only reports
    "c_grid": None,
    "gamma_scale_grid": [0.1, 1.0, 10.0],
    "scoring": "balanced_accuracy",  # balanced_accuracy | macro_f1
    "inner_folds": None,  # None: leave-one-group-out up to 10 groups, else 5 grouped folds
    "class_weight": "balanced",
    "max_iter": 10000,
}
FIT_ON = ("train", "train_val")
HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "roc_auc_ovr", "log_loss")


def clip_vector_of(features: np.ndarray, kind: str) -> np.ndarray:
    """One vector per clip from a kind's cached or extracted array: a log-mel `(n_mels, frames)` gives the mean and
    std of every band over time; other kinds' `(n_vectors, dim)` are already pooled (or averaged when not)."""
    from sonolab.features.pooling import clip_vector

    if kind == "logmel":
        return clip_vector(np.asarray(features).T, "mean_std")
    return clip_vector(features, "auto")


def head_section(recipe: dict[str, Any]) -> dict[str, Any]:
    section = {**HEAD_DEFAULTS, **(recipe.get("head") or {})}
    unknown = sorted(set(section) - set(HEAD_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown recipe key 'head.{unknown[0]}' (known: {', '.join(sorted(HEAD_DEFAULTS))})")
    if section["fit_on"] not in FIT_ON:
        raise ConfigError(f"head.fit_on must be train or train_val, got {section['fit_on']!r}")
    return section


def head_settings(section: dict[str, Any], seed: int) -> Any:
    from sonolab.models.classical import HEADS, ClassicalHeadSettings

    if section["name"] not in HEADS:
        raise ConfigError(f"head.name must be one of {', '.join(HEADS)}, got {section['name']!r}")
    values = {key: value for key, value in section.items() if key not in ("name", "fit_on")}
    return ClassicalHeadSettings.from_dict({**values, "seed": int(seed)})


def _refuse_cnn_options(recipe: dict[str, Any]) -> None:
    """Sections that only a trained network uses: a changed value would do nothing here, so it is refused."""
    from sonolab.train.config import RECIPE_DEFAULTS

    for name, section in (recipe.get("augment") or {}).items():
        if isinstance(section, dict) and section.get("enabled"):
            raise ConfigError(f"augment.{name} is not implemented by the classical task (its features are fixed clip vectors; "
                              f"fix: set augment.{name}.enabled: false)")
    defaults = RECIPE_DEFAULTS["training"]
    ignored = ("epochs", "batch_size", "lr", "scheduler", "mixup_alpha", "label_smoothing", "ema_decay", "class_weights",
               "balanced_sampling", "strategy", "devices")
    for key in ignored:
        if recipe["training"].get(key) != defaults.get(key):
            raise ConfigError(f"training.{key} is not used by the classical task (fix: remove it; the head is chosen by "
                              "inner cross-validation, see the head section)")


@dataclass
class ClassicalData:
    """One trial's clip vectors (one row per usable item), labels, groups, and what was left out."""

    vectors: dict[str, np.ndarray]
    labels_by_id: dict[str, str]
    groups_by_id: dict[str, str]
    classes: list[str]
    usable: set[str]
    problems: list[dict[str, str]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


class ClassicalTask:
    """Clip vectors + a classical head, the fastest strong model on a CPU."""

    name = "classical"

    def check(self, recipe: dict[str, Any]) -> None:
        section = head_section(recipe)
        head_settings(section, 0)
        kind_settings(recipe["features"])
        _refuse_cnn_options(recipe)

    def default_monitor(self, recipe: dict[str, Any]) -> str:
        return f"val_{head_section(recipe)['scoring']}"

    def validation_metrics(self, recipe: dict[str, Any]) -> tuple[str, ...]:
        return (self.default_monitor(recipe),)

    def headline_metrics(self, recipe: dict[str, Any]) -> tuple[str, ...]:
        return HEADLINE

    def load_index(self, recipe: dict[str, Any], root: Path) -> Any:
        from sonolab.train.classification import load_labelled_index

        return load_labelled_index(recipe, root)

    def prepare(self, recipe: dict[str, Any], index: Any, folds: list[Any], cache_dir: Path, progress: bool) -> ClassicalData:
        from sonolab.data.cache import build_feature_cache, cache_dir_for, open_feature_cache
        from sonolab.train.classification import failure_dict

        settings = kind_settings(recipe["features"])
        directory = cache_dir_for(cache_dir, settings)
        result = build_feature_cache(index.items, settings, directory, progress=progress)
        cache = open_feature_cache(directory, settings)
        usable = [item for item in index.items if item.item_id in cache]
        if not usable:
            raise DatasetError(f"{index.root}: no item has features ({len(result.failures)} failure(s), listed in {directory / 'failures.json'})")
        kind = feature_kind(recipe["features"])
        vectors = {item.item_id: clip_vector_of(cache.view(item.item_id), kind) for item in usable}
        extras: dict[str, Any] = {"classes": list(index.classes), "feature_cache": str(directory),
                                  "feature_kind": feature_kind(recipe["features"]), "head": head_section(recipe)["name"]}
        groups = {item.item_id: str(item.group) for item in index.items}
        if group_normalisation(recipe["features"]) == "per_group_standardise":
            from sonolab.data.group_normalisation import per_group_standardise

            ids = [item.item_id for item in usable]
            # Each group's statistics come from that group's own rows, without labels; a test group's from its own
            # unlabelled recordings (transductive), which the report states.
            standardised = per_group_standardise(np.stack([vectors[i] for i in ids]), [groups[i] for i in ids],
                                                 test_groups={groups[i] for fold in folds for i in fold.test if i in vectors})
            vectors = dict(zip(ids, standardised.features))
            extras["notes"] = [f"Group normalisation: {standardised.note}."]
        if feature_kind(recipe["features"]) == "opensmile":
            extras.setdefault("notes", []).append("Features: openSMILE (audEERING), research licence: no commercial use "
                                                  "without a licence from audEERING.")
        return ClassicalData(vectors, {item.item_id: str(item.label) for item in usable}, groups, list(index.classes),
                             set(vectors), [failure_dict(f) for f in (result.failures or [])], extras)

    def run(self, recipe: dict[str, Any], prepared: ClassicalData, fold: str, partitions: dict[str, list[str]], seed: int,
            out_dir: Path, resume: bool, progress: bool) -> dict[str, Any] | None:
        return fit_fold(recipe, prepared, fold, partitions, seed, out_dir)


def fit_fold(recipe: dict[str, Any], data: ClassicalData, fold: str, partitions: dict[str, list[str]], seed: int,
             out_dir: Path) -> dict[str, Any]:
    """Fit the head on the fold's training rows (inner CV on their groups), score validation and test, save."""
    from sonolab.evaluate.metrics import classification_metrics
    from sonolab.models.classical import fit_classical_head
    from sonolab.train.classification import write_predictions

    section = head_section(recipe)
    fit_ids = partitions["train"] + (partitions["val"] if section["fit_on"] == "train_val" else [])
    if not fit_ids or not partitions["test"]:
        raise DatasetError(f"fold {fold}: nothing to fit or to test (train {len(fit_ids)}, test {len(partitions['test'])})")

    def matrix(ids: list[str]) -> np.ndarray:
        return np.stack([data.vectors[i] for i in ids])

    head = fit_classical_head(matrix(fit_ids), np.asarray([data.labels_by_id[i] for i in fit_ids]),
                              np.asarray([data.groups_by_id[i] for i in fit_ids]), section["name"], head_settings(section, seed))
    classes = data.classes
    column = {str(name): index for index, name in enumerate(head.classes)}

    def scores(ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Labels and probabilities over ALL dataset classes (a class absent from the fit rows gets 0)."""
        probabilities = np.zeros((len(ids), len(classes)))
        fitted = head.predict_proba(matrix(ids))
        for name, index in column.items():
            probabilities[:, classes.index(name)] = fitted[:, index]
        return np.asarray([classes.index(data.labels_by_id[i]) for i in ids]), probabilities

    test_labels, test_probabilities = scores(partitions["test"])
    best_inner = max(entry["mean"] for entry in head.inner_cv_scores)
    val = {section["scoring"]: best_inner, "source": "inner cross-validation on the fit rows' groups"}
    if section["fit_on"] == "train" and partitions["val"]:
        val_labels, val_probabilities = scores(partitions["val"])
        val = {**classification_metrics(val_labels, val_probabilities, classes), "source": "validation partition"}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_predictions(out_dir / "predictions.csv", partitions["test"], test_labels, test_probabilities, classes)
    head.save(out_dir / "head")
    write_json_atomic(out_dir / "model.json", {
        "task": "classical", "classes": classes, "features": recipe["features"], "head": section,
        "fold": fold, "seed": seed, "chosen": head.chosen})
    record = {
        "fold": fold, "seed": seed,
        "counts": {"fit": len(fit_ids), "val": len(partitions["val"]), "test": len(partitions["test"])},
        "head": {"name": head.head, "chosen": head.chosen, "scoring": head.scoring, "inner_cv": head.inner_cv_scores},
        "val": val, "val_monitor": val[section["scoring"]] if section["scoring"] in val else best_inner,
        "test": classification_metrics(test_labels, test_probabilities, classes),
    }
    write_json_atomic(out_dir / "metrics.json", record)
    return record
