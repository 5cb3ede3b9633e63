"""Leak-free splits, decided on groups (source clip, speaker, song) before any augmentation.

Strategies:
- `official`: ESC-50's 5 folds as test folds; FSDD's takes 0-4 test / 5-49 train (a *within*-speaker
  split: the unit kept whole is the recording, see `note`); MERGE's tvt files (`metadata["tvt"]`);
  EmoDB's protocol (leave one speaker out); a folder CSV's `split` column.
- `group-kfold`: scikit-learn's StratifiedGroupKFold (stratified by label, grouped).
- `loso`: leave one group out (one fold per speaker).
- `holdout`: one grouped, stratified train/val/test split by fractions.

In every strategy each fold's `val` partition is carved from the *training* groups only (grouped,
stratified where possible), so model selection never touches the test partition. Augmented variants
carry their parent's group, so they always land beside it.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sonolab.atomic import write_json_atomic
from sonolab.data.items import DatasetIndex, Item
from sonolab.errors import ConfigError, DatasetError

STRATEGIES: tuple[str, ...] = ("official", "group-kfold", "loso", "holdout")
PARTITIONS: tuple[str, ...] = ("train", "val", "test")
FSDD_TEST_TAKES = range(0, 5)


@dataclass
class Fold:
    """One fold: item ids per partition."""

    name: str
    train: list[str]
    val: list[str]
    test: list[str]

    def partitions(self) -> dict[str, list[str]]:
        return {"train": self.train, "val": self.val, "test": self.test}


@dataclass
class Splits:
    """Every fold's partitions plus each item's group, label and parent (for the audit)."""

    dataset: str
    root: str
    strategy: str
    seed: int
    folds: list[Fold]
    groups: dict[str, str]
    labels: dict[str, str | None]
    parents: dict[str, str | None]
    note: str | None = None
    paths: dict[str, str] = field(default_factory=dict)  # item id -> path (relative to root when inside it)

    def to_dict(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "dataset": self.dataset, "root": self.root, "strategy": self.strategy, "seed": self.seed,
            "folds": [{"name": fold.name, "partitions": fold.partitions()} for fold in self.folds],
            "groups": self.groups, "labels": self.labels, "parents": self.parents,
        }
        if self.note:
            payload["note"] = self.note
        if self.paths:
            payload["paths"] = self.paths
        return payload

    @classmethod
    def from_dict(cls, payload: dict[str, Any], source: str = "splits") -> "Splits":
        try:
            folds = [
                Fold(
                    str(entry["name"]),
                    [str(i) for i in entry["partitions"].get("train", [])],
                    [str(i) for i in entry["partitions"].get("val", [])],
                    [str(i) for i in entry["partitions"].get("test", [])],
                )
                for entry in payload["folds"]
            ]
            return cls(
                dataset=str(payload["dataset"]), root=str(payload.get("root", "")), strategy=str(payload["strategy"]),
                seed=int(payload.get("seed", 0)), folds=folds, groups=dict(payload.get("groups", {})),
                labels=dict(payload.get("labels", {})), parents=dict(payload.get("parents", {})),
                note=payload.get("note"), paths=dict(payload.get("paths", {})),
            )
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise DatasetError(f"{source}: not a sonolab splits file ({error!r}) (fix: write it with `sonolab split`)") from error

    def resolve_path(self, item_id: str, root: Path | None = None) -> Path | None:
        """The item's audio path, relative paths taken under `root` (default: the recorded root)."""
        stored = self.paths.get(item_id)
        if stored is None:
            return None
        path = Path(stored)
        return path if path.is_absolute() else Path(root or self.root) / path


def save_splits(splits: Splits, path: Path | str) -> Path:
    """Write the splits JSON atomically."""
    return write_json_atomic(path, splits.to_dict())


def load_splits(path: Path | str) -> Splits:
    """Read a splits JSON written by `save_splits`."""
    path = Path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise DatasetError(f"{path}: splits file not found (fix: create it with `sonolab split`)") from error
    except json.JSONDecodeError as error:
        raise DatasetError(f"{path}: not valid JSON ({error}) (fix: re-create it with `sonolab split`)") from error
    return Splits.from_dict(payload, str(path))


# --- grouped partitioning helpers ---------------------------------------------------------------

def _labels_for_stratification(items: list[Item]) -> np.ndarray | None:
    labels = [item.label for item in items]
    return None if any(label is None for label in labels) else np.asarray(labels)


def _grouped_holdout(items: list[Item], fraction: float, seed: int) -> tuple[list[Item], list[Item]]:
    """Split `items` into (rest, held) with about `fraction` of them held out, whole groups only,
    stratified by label with StratifiedGroupKFold when the data allow it, else GroupShuffleSplit."""
    from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

    groups = np.asarray([item.group for item in items])
    unique_groups = np.unique(groups)
    if unique_groups.size < 2:
        raise DatasetError(
            f"cannot hold out whole groups from {len(items)} items in {unique_groups.size} group(s): "
            "need at least 2 groups (fix: add data, or check the dataset's group definition)"
        )
    fraction = float(min(max(fraction, 1e-6), 0.5))
    labels = _labels_for_stratification(items)
    indices = np.arange(len(items))
    n_splits = max(2, int(round(1.0 / fraction)))
    stratified = labels is not None and unique_groups.size >= n_splits
    if stratified:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "least populated class has fewer members than n_splits"
            splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            try:
                rest, held = next(splitter.split(indices, labels, groups))
            except ValueError:  # every class has fewer members than n_splits: stratification is impossible
                stratified = False
    if not stratified:
        splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
        rest, held = next(splitter.split(indices, None, groups))
        if held.size == 0 or rest.size == 0:
            raise DatasetError(f"a grouped hold-out of {fraction:.0%} from {unique_groups.size} groups is empty (fix: change the fraction)")
    return [items[i] for i in rest], [items[i] for i in held]


def _carve_val(train: list[Item], val_fraction_of_all: float, total: int, seed: int) -> tuple[list[Item], list[Item]]:
    """Carve the validation partition from the training groups only."""
    share = len(train) / max(total, 1)
    fraction = val_fraction_of_all / share if share > 0 else val_fraction_of_all
    return _grouped_holdout(train, fraction, seed)


def _fold(name: str, train: list[Item], val: list[Item], test: list[Item]) -> Fold:
    return Fold(name, [i.item_id for i in train], [i.item_id for i in val], [i.item_id for i in test])


def _official(index: DatasetIndex, seed: int, val_fraction: float) -> tuple[list[Fold], str | None, dict[str, str]]:
    name = index.name
    items = index.items
    total = len(items)
    if name == "esc50":
        folds_present = sorted({int(item.metadata["fold"]) for item in items})
        folds: list[Fold] = []
        for number, test_fold in enumerate(folds_present):
            test = [item for item in items if int(item.metadata["fold"]) == test_fold]
            train, val = _carve_val([item for item in items if int(item.metadata["fold"]) != test_fold], val_fraction, total, seed + number)
            folds.append(_fold(f"fold-{number}", train, val, test))
        return folds, "official ESC-50 folds as test folds; val carved from the training folds by src_file group", {}
    if name == "fsdd":
        # Within-speaker protocol: every speaker is in every partition, so the unit kept whole is the recording.
        regrouped = [Item(i.item_id, i.path, i.label, i.parent_id or i.item_id, i.parent_id, i.targets, i.metadata) for i in items]
        test = [item for item in regrouped if int(item.metadata["take"]) in FSDD_TEST_TAKES]
        rest = [item for item in regrouped if int(item.metadata["take"]) not in FSDD_TEST_TAKES]
        if not test or len(rest) < 2:
            raise DatasetError(
                f"{index.root}: FSDD's official split needs takes 0-4 (test) and 5-49 (train/val), but {len(test)} of the "
                f"{total} recordings are takes 0-4 and {len(rest)} are takes 5-49 (fix: use --strategy loso, group-kfold or holdout)"
            )
        train, val = _carve_val(rest, val_fraction, total, seed)
        note = ("FSDD official split: takes 0-4 test, 5-49 train/val. It is WITHIN-speaker (every speaker in every "
                "partition), so groups are recordings here; use --strategy loso for speaker-independent evaluation")
        return [_fold("fold-0", train, val, test)], note, {item.item_id: item.group for item in regrouped}
    if name == "emodb":
        folds = _loso(index, seed, val_fraction)
        return folds, "EmoDB protocol: speaker-independent, leave one speaker out", {}
    key = "tvt" if name.startswith("merge") else "split"
    values = {item.item_id: item.metadata.get(key) for item in items}
    missing = [item_id for item_id, value in values.items() if not value]
    if len(missing) == total:
        raise DatasetError(f"{index.root}: dataset {name!r} has no official split (fix: use --strategy group-kfold, loso or holdout)")
    mapping = {"train": "train", "validate": "val", "val": "val", "test": "test"}
    partitions: dict[str, list[Item]] = {"train": [], "val": [], "test": []}
    for item in items:
        if not values[item.item_id]:
            continue  # in no official partition: left out of every fold, and said so in the note
        partition = mapping.get(str(values[item.item_id]).lower())
        if partition is None:
            raise DatasetError(f"{item.path}: unknown official partition {values[item.item_id]!r} (fix: use train, validate/val or test)")
        partitions[partition].append(item)
    if not partitions["val"]:
        partitions["train"], partitions["val"] = _carve_val(partitions["train"], val_fraction, total, seed)
    note = f"official {key} partitions"
    if missing:
        note += (f"; {len(missing)} items are in no official partition and were left out of every fold "
                 f"(e.g. {', '.join(missing[:5])})")
    return [_fold("fold-0", partitions["train"], partitions["val"], partitions["test"])], note, {}


def _group_kfold(index: DatasetIndex, seed: int, n_folds: int, val_fraction: float) -> list[Fold]:
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    items = index.items
    groups = np.asarray([item.group for item in items])
    if np.unique(groups).size < n_folds:
        raise DatasetError(f"{index.root}: {np.unique(groups).size} groups cannot make {n_folds} grouped folds (fix: lower --folds)")
    labels = _labels_for_stratification(items)
    indices = np.arange(len(items))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = None
        if labels is not None:
            try:
                splits = list(StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed).split(indices, labels, groups))
            except ValueError:  # every class has fewer members than n_folds: grouped folds without stratification
                splits = None
        if splits is None:
            splits = list(GroupKFold(n_splits=n_folds).split(indices, None, groups))
    folds = []
    for number, (train_idx, test_idx) in enumerate(splits):
        train, val = _carve_val([items[i] for i in train_idx], val_fraction, len(items), seed + number)
        folds.append(_fold(f"fold-{number}", train, val, [items[i] for i in test_idx]))
    return folds


def _loso(index: DatasetIndex, seed: int, val_fraction: float) -> list[Fold]:
    groups = sorted({item.group for item in index.items})
    if len(groups) < 3:
        raise DatasetError(f"{index.root}: leave-one-group-out needs at least 3 groups (train, val, test), found {len(groups)}")
    folds = []
    for number, group in enumerate(groups):
        test = [item for item in index.items if item.group == group]
        train, val = _carve_val([item for item in index.items if item.group != group], val_fraction, len(index.items), seed + number)
        folds.append(_fold(f"fold-{number}", train, val, test))
    return folds


def _holdout(index: DatasetIndex, seed: int, val_fraction: float, test_fraction: float) -> list[Fold]:
    rest, test = _grouped_holdout(index.items, test_fraction, seed)
    train, val = _carve_val(rest, val_fraction, len(index.items), seed + 1)
    return [_fold("fold-0", train, val, test)]


def _stored_path(item: Item, root: Path) -> str:
    path = Path(os.path.abspath(item.path))
    try:
        return path.relative_to(os.path.abspath(root)).as_posix()
    except ValueError:
        return str(path)


def make_splits(
    index: DatasetIndex,
    strategy: str,
    seed: int = 0,
    n_folds: int = 5,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
) -> Splits:
    """Grouped train/val/test partitions for every fold of `strategy` (see the module docstring)."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown split strategy {strategy!r} (fix: use one of {', '.join(STRATEGIES)})")
    if not index.items:
        raise DatasetError(f"{index.root}: no usable items to split (fix: run `sonolab verify` and repair the dataset)")
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ConfigError("val_fraction and test_fraction must lie in (0, 1) and sum to less than 1")
    if n_folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {n_folds}")
    _check_parent_groups(index)
    note = None
    group_override: dict[str, str] = {}
    if strategy == "official":
        folds, note, group_override = _official(index, seed, val_fraction)
    elif strategy == "group-kfold":
        folds = _group_kfold(index, seed, n_folds, val_fraction)
    elif strategy == "loso":
        folds = _loso(index, seed, val_fraction)
    else:
        folds = _holdout(index, seed, val_fraction, test_fraction)
    root = Path(index.root)
    return Splits(
        dataset=index.name, root=os.path.abspath(root), strategy=strategy, seed=seed, folds=folds,
        groups={item.item_id: group_override.get(item.item_id, item.group) for item in index.items},
        labels={item.item_id: item.label for item in index.items},
        parents={item.item_id: item.parent_id for item in index.items},
        note=note, paths={item.item_id: _stored_path(item, root) for item in index.items},
    )


def _check_parent_groups(index: DatasetIndex) -> None:
    """An augmented variant must carry its parent's group, or grouping could separate them."""
    by_id = index.by_id()
    for item in index.items:
        if item.parent_id is not None and item.parent_id in by_id and by_id[item.parent_id].group != item.group:
            raise DatasetError(
                f"{item.path}: variant {item.item_id!r} has group {item.group!r} but its parent {item.parent_id!r} "
                f"has group {by_id[item.parent_id].group!r} (fix: give variants their parent's group)"
            )


def partition_summary(splits: Splits) -> list[dict[str, Any]]:
    """Per fold: item and group counts per partition (for printing)."""
    rows = []
    for fold in splits.folds:
        row: dict[str, Any] = {"fold": fold.name}
        for name, ids in fold.partitions().items():
            row[name] = len(ids)
            row[f"{name}_groups"] = len({splits.groups.get(i, i) for i in ids})
        rows.append(row)
    return rows
