"""The `classical` task plugin: clip vectors of any feature kind (a pretrained embedding, functionals, openSMILE)
-> optional per-group standardisation -> a scikit-learn head whose hyperparameters are chosen by an inner
cross-validation grouped by the training rows' groups (never the test fold), scored on the test partition.

Recipe sections used: `features` (`kind` + that kind's settings, `group_normalisation`; `extra` audio kinds,
the `lyrics` modality and `ablation`: `sonolab.train.classical_inputs`), `head` (`name`: logistic_regression |
linear_svm | rbf_svm, `fit_on`: train | train_val, `sonolab.models.classical.ClassicalHeadSettings` fields, and
`regression`: targets such as [arousal, valence] for ridge heads beside the classifier, `ridge_alpha_grid`),
`seeds` (the heads are deterministic; the seed only seeds the inner folds),
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
from sonolab.models.group_spreading import spreading_settings
from sonolab.train.classical_inputs import clip_vector_of  # noqa: F401 (re-exported: classical_predict, tests)
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
    "regression": [],  # e.g. [arousal, valence]: a ridge head per target beside the classifier (datasets that have them)
    "ridge_alpha_grid": None,  # None: sonolab.models.regression_head.DEFAULT_ALPHA_GRID
}
NOT_CLASSIFIER_KEYS = ("name", "fit_on", "regression", "ridge_alpha_grid")
FIT_ON = ("train", "train_val")
HEADLINE = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "roc_auc_ovr", "log_loss")


def head_section(recipe: dict[str, Any]) -> dict[str, Any]:
    section = {**HEAD_DEFAULTS, **(recipe.get("head") or {})}
    unknown = sorted(set(section) - set(HEAD_DEFAULTS))
    if unknown:
        raise ConfigError(f"unknown recipe key 'head.{unknown[0]}' (known: {', '.join(sorted(HEAD_DEFAULTS))})")
    if section["fit_on"] not in FIT_ON:
        raise ConfigError(f"head.fit_on must be train or train_val, got {section['fit_on']!r}")
    if not isinstance(section["regression"], list) or not all(isinstance(t, str) for t in section["regression"]):
        raise ConfigError(f"head.regression must be a list of target names (e.g. [arousal, valence]), got {section['regression']!r}")
    grid = section["ridge_alpha_grid"]
    if grid is not None and (not isinstance(grid, list) or not grid or not all(isinstance(a, (int, float)) and a > 0 for a in grid)):
        raise ConfigError(f"head.ridge_alpha_grid must be a non-empty list of positive numbers, got {grid!r}")
    return section


def head_settings(section: dict[str, Any], seed: int) -> Any:
    from sonolab.models.classical import HEADS, ClassicalHeadSettings

    if section["name"] not in HEADS:
        raise ConfigError(f"head.name must be one of {', '.join(HEADS)}, got {section['name']!r}")
    values = {key: value for key, value in section.items() if key not in NOT_CLASSIFIER_KEYS}
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
    """One trial's clip vectors (per modality, one row per usable item), labels, targets, groups, what was left out."""

    inputs: Any  # sonolab.train.classical_inputs.ModalityVectors
    labels_by_id: dict[str, str]
    groups_by_id: dict[str, str]
    classes: list[str]
    usable: set[str]
    sets: list[tuple[str, ...]]  # modality sets each fold fits; the first is the headline
    targets_by_id: dict[str, dict[str, float]] = field(default_factory=dict)
    problems: list[dict[str, str]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)


class ClassicalTask:
    """Clip vectors + a classical head, the fastest strong model on a CPU."""

    name = "classical"

    def check(self, recipe: dict[str, Any]) -> None:
        from sonolab.train.classical_inputs import check_inputs

        section = head_section(recipe)
        head_settings(section, 0)
        kind_settings(recipe["features"])
        check_inputs(recipe["features"])
        _refuse_cnn_options(recipe)

    def default_monitor(self, recipe: dict[str, Any]) -> str:
        return f"val_{head_section(recipe)['scoring']}"

    def validation_metrics(self, recipe: dict[str, Any]) -> tuple[str, ...]:
        return (self.default_monitor(recipe),)

    def headline_metrics(self, recipe: dict[str, Any]) -> tuple[str, ...]:
        return HEADLINE

    def load_index(self, recipe: dict[str, Any], root: Path) -> Any:
        from sonolab.data.merge_parts import require_targets
        from sonolab.train.classification import load_labelled_index

        index = load_labelled_index(recipe, root)
        targets = head_section(recipe)["regression"]
        if targets:
            require_targets(index, targets)  # 4Q: quadrants only, refused here before anything runs
        return index

    def prepare(self, recipe: dict[str, Any], index: Any, folds: list[Any], cache_dir: Path, progress: bool) -> ClassicalData:
        from sonolab.train.classical_inputs import modality_sets, modality_vectors

        inputs = modality_vectors(recipe, index, cache_dir, progress)
        usable = inputs.usable
        extras: dict[str, Any] = {"classes": list(index.classes), "feature_kind": feature_kind(recipe["features"]),
                                  "head": head_section(recipe)["name"], **inputs.extras}
        groups = {item.item_id: str(item.group) for item in index.items}
        if group_normalisation(recipe["features"]) == "per_group_standardise":
            from sonolab.data.group_normalisation import per_group_standardise

            # Each group's statistics come from that group's own rows, without labels; a test group's from its own
            # unlabelled recordings (transductive), which the report states. Columns are standardised one by one,
            # so each modality block is standardised on its own.
            test_groups = {groups[i] for fold in folds for i in fold.test if i in set(usable)}
            for modality, block in inputs.blocks.items():
                standardised = per_group_standardise(np.stack([block[i] for i in usable]), [groups[i] for i in usable],
                                                     test_groups=test_groups)
                inputs.blocks[modality] = dict(zip(usable, standardised.features))
            extras.setdefault("notes", []).append(f"Group normalisation: {standardised.note}.")
        if spreading_settings(recipe.get("group_spreading")) is not None:
            from sonolab.models.group_spreading import REPORT_NOTE

            extras.setdefault("notes", []).append(REPORT_NOTE)
        if "opensmile" in extras.get("feature_kinds", []):
            extras.setdefault("notes", []).append("Features: openSMILE (audEERING), research licence: no commercial use "
                                                  "without a licence from audEERING.")
        sets = modality_sets(extras["modalities"], bool(recipe["features"].get("ablation", True)))
        extras["headline_modalities"] = "+".join(sets[0])
        by_id = index.by_id()
        targets = {i: dict(by_id[i].targets) for i in usable}
        return ClassicalData(inputs, {i: str(by_id[i].label) for i in usable}, groups, list(index.classes), set(usable),
                             sets, targets, inputs.problems, extras)

    def run(self, recipe: dict[str, Any], prepared: ClassicalData, fold: str, partitions: dict[str, list[str]], seed: int,
            out_dir: Path, resume: bool, progress: bool) -> dict[str, Any] | None:
        return fit_fold(recipe, prepared, fold, partitions, seed, out_dir)

    def summary_extras(self, recipe: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
        """Every modality set's and every regression target's test scores under the summary convention."""
        from sonolab.train.summary import summarize_records

        extras: dict[str, Any] = {}
        names = list(dict.fromkeys(name for record in records for name in record.get("modalities", {})))
        if len(names) > 1:
            extras["modality_ablation"] = {
                name: {key: value for key, value in summarize_records(
                    [{**r, **r["modalities"][name]} for r in records if name in r.get("modalities", {})], HEADLINE).items()
                    if key in ("metrics", "val_monitor", "n_folds", "n_seeds")}
                for name in names}
        regression = list(dict.fromkeys(name for record in records for name in record.get("regression", {})))
        if regression:
            extras["regression"] = {}
            for name in regression:
                subset = [{**r, "test": r["regression"][name]["test"]} for r in records if name in r.get("regression", {})]
                metric_names = list(subset[0]["test"])
                extras["regression"][name] = summarize_records(subset, metric_names)["metrics"]
        return extras


def _fit_classifier(section: dict[str, Any], data: ClassicalData, partitions: dict[str, list[str]], fit_ids: list[str],
                    seed: int, modalities: tuple[str, ...], spreading: Any = None) -> dict[str, Any]:
    """One classical head on one modality set: the head, test labels/probabilities, validation scores."""
    from sonolab.evaluate.metrics import classification_metrics
    from sonolab.models.classical import fit_classical_head
    from sonolab.models.group_spreading import spread_within_groups

    head = fit_classical_head(data.inputs.matrix(fit_ids, modalities), np.asarray([data.labels_by_id[i] for i in fit_ids]),
                              np.asarray([data.groups_by_id[i] for i in fit_ids]), section["name"], head_settings(section, seed),
                              spreading=spreading)
    classes = data.classes
    column = {str(name): index for index, name in enumerate(head.classes)}
    without: dict[str, Any] = {}

    def scores(ids: list[str], partition: str) -> tuple[np.ndarray, np.ndarray]:
        """Labels and probabilities over ALL dataset classes (a class absent from the fit rows gets 0); with
        `group_spreading`, spread within each group of `ids` (the scores without it go to `without`)."""
        probabilities = np.zeros((len(ids), len(classes)))
        matrix = data.inputs.matrix(ids, modalities)
        fitted = head.predict_proba(matrix)
        for name, index in column.items():
            probabilities[:, classes.index(name)] = fitted[:, index]
        labels = np.asarray([classes.index(data.labels_by_id[i]) for i in ids])
        if spreading is not None:
            without[partition] = classification_metrics(labels, probabilities, classes)
            probabilities = spread_within_groups(probabilities, matrix, [data.groups_by_id[i] for i in ids], spreading)
        return labels, probabilities

    test_labels, test_probabilities = scores(partitions["test"], "test")
    best_inner = max(entry["mean"] for entry in head.inner_cv_scores)
    val = {section["scoring"]: best_inner, "source": "inner cross-validation on the fit rows' groups"}
    if section["fit_on"] == "train" and partitions["val"]:
        val_labels, val_probabilities = scores(partitions["val"], "val")
        val = {**classification_metrics(val_labels, val_probabilities, classes), "source": "validation partition"}
    return {"head": head, "test_labels": test_labels, "test_probabilities": test_probabilities, "val": val,
            "val_monitor": val[section["scoring"]] if section["scoring"] in val else best_inner,
            "test": classification_metrics(test_labels, test_probabilities, classes),
            **({"group_spreading": {**spreading.to_dict(), "without": without}} if spreading is not None else {})}


def _fit_regression(section: dict[str, Any], data: ClassicalData, test_ids: list[str], fit_ids: list[str],
                    modalities: tuple[str, ...]) -> tuple[Any, dict[str, Any]]:
    """Ridge heads for `head.regression` targets on one modality set; their test metrics per target."""
    from sonolab.evaluate.regression import dimension_metrics
    from sonolab.models.regression_head import DEFAULT_ALPHA_GRID, fit_ridge_head

    targets = section["regression"]
    head = fit_ridge_head(data.inputs.matrix(fit_ids, modalities),
                          {t: np.asarray([data.targets_by_id[i][t] for i in fit_ids]) for t in targets},
                          np.asarray([data.groups_by_id[i] for i in fit_ids]),
                          tuple(section["ridge_alpha_grid"] or DEFAULT_ALPHA_GRID), section["inner_folds"])
    predicted = head.predict(data.inputs.matrix(test_ids, modalities))
    test: dict[str, float] = {}
    for column, target in enumerate(targets):
        scores = dimension_metrics([data.targets_by_id[i][target] for i in test_ids], predicted[:, column])
        test.update({f"{target}_{name}": value for name, value in scores.items()})
    test["mean_ccc"] = float(np.mean([test[f"{t}_ccc"] for t in targets]))
    return head, {"test": test, "chosen_alpha": head.chosen_alpha}


def fit_fold(recipe: dict[str, Any], data: ClassicalData, fold: str, partitions: dict[str, list[str]], seed: int,
             out_dir: Path) -> dict[str, Any]:
    """Fit the head on the fold's training rows (inner CV on their groups) for every modality set, score validation
    and test, save the headline set's head; ridge heads beside them where the recipe asks for regression."""
    from sonolab.train.classification import write_predictions

    section = head_section(recipe)
    spreading = spreading_settings(recipe.get("group_spreading"))
    fit_ids = partitions["train"] + (partitions["val"] if section["fit_on"] == "train_val" else [])
    if not fit_ids or not partitions["test"]:
        raise DatasetError(f"fold {fold}: nothing to fit or to test (train {len(fit_ids)}, test {len(partitions['test'])})")
    out_dir.mkdir(parents=True, exist_ok=True)
    by_set: dict[str, dict[str, Any]] = {}
    regression: dict[str, dict[str, Any]] = {}
    headline: dict[str, Any] = {}
    for modalities in data.sets:
        name = "+".join(modalities)
        fitted = _fit_classifier(section, data, partitions, fit_ids, seed, modalities, spreading)
        by_set[name] = {"head": {"chosen": fitted["head"].chosen}, "val": fitted["val"], "val_monitor": fitted["val_monitor"],
                        "test": fitted["test"]}
        if section["regression"]:
            ridge, regression[name] = _fit_regression(section, data, partitions["test"], fit_ids, modalities)
            if modalities == data.sets[0]:
                ridge.save(out_dir / "ridge")
        if modalities == data.sets[0]:
            headline = fitted
    head = headline["head"]
    write_predictions(out_dir / "predictions.csv", partitions["test"], headline["test_labels"], headline["test_probabilities"],
                      data.classes)
    head.save(out_dir / "head")
    write_json_atomic(out_dir / "model.json", {
        "task": "classical", "classes": data.classes, "features": recipe["features"], "head": section,
        "group_spreading": spreading.to_dict() if spreading is not None else None,
        "modalities": list(data.sets[0]), "fold": fold, "seed": seed, "chosen": head.chosen})
    record = {
        "fold": fold, "seed": seed,
        "counts": {"fit": len(fit_ids), "val": len(partitions["val"]), "test": len(partitions["test"])},
        "head": {"name": head.head, "chosen": head.chosen, "scoring": head.scoring, "inner_cv": head.inner_cv_scores},
        "val": headline["val"], "val_monitor": headline["val_monitor"], "test": headline["test"],
        "modalities": by_set,
    }
    if "group_spreading" in headline:
        record["group_spreading"] = headline["group_spreading"]
    if regression:
        record["regression"] = regression
    write_json_atomic(out_dir / "metrics.json", record)
    return record
