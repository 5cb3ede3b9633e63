"""Users' own data: a `class_name/*.wav` tree, or a CSV `path,label[,group][,split][,parent]`.

- Tree: every sub-folder of the root is a class; audio files inside it (at any depth) are its items.
- CSV: `root` is the CSV file itself or a folder holding `labels.csv`; paths are relative to the CSV's
  folder and must stay inside it. `split` (train/val/test) feeds the `official` split strategy;
  `parent` names the item id an augmented variant was made from.

Item id = path relative to the root without the extension. Without a `group` column (or in a tree),
the group is inferred from the name: variants named like their source plus a variant suffix
(`x_aug3.wav`, `x_pitch.wav`, `x-noisy.wav`, `x (1).wav`, `x copy.wav`) join the group of `x` in the same
folder, so a split keeps them together; a warning says how many and that no group column was given.
"""

from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from pathlib import Path

from sonolab.data.items import DatasetIndex, Item, Problem
from sonolab.data.paths import audio_files, read_csv_dicts, relative_id, resolve_inside
from sonolab.errors import DatasetError

CSV_NAME = "labels.csv"
SPLIT_NAMES: dict[str, str] = {
    "train": "train", "training": "train", "val": "val", "valid": "val", "validate": "val",
    "validation": "val", "dev": "val", "test": "test", "testing": "test",
}


_VARIANT_WORDS = (r"aug(?:mented|mentation)?|pitch(?:ed|shift(?:ed)?)?|shift(?:ed)?|stretch(?:ed)?|tempo|speed|"
                  r"noise|noisy|reverb(?:ed)?|gain|eq|mp3|copy|dup(?:licate)?|variant|var|ps|ts|resampled?")
_VARIANT_SUFFIX = re.compile(
    rf"(?:[ _.-](?:{_VARIANT_WORDS})(?:[ _.-]?[+-]?\d+(?:\.\d+)?(?:st|db|x|pct)?)?|\s*\(\d+\)|[ _-]copy(?:[ _-]?\d+)?)$",
    re.IGNORECASE)


class GroupingWarning(UserWarning):
    """Groups of a folder dataset were inferred from file names."""


def variant_base(stem: str) -> str:
    """The source name of a variant's file stem (`x_aug3` -> `x`, `x (1)` -> `x`); the stem itself otherwise."""
    base = stem
    while True:
        stripped = _VARIANT_SUFFIX.sub("", base)
        if stripped == base or not stripped:
            return base
        base = stripped


def infer_groups(items: list[Item], root: Path) -> tuple[list[Item], int]:
    """Give every item whose name is a variant of another name in its folder that name's group.

    Returns the items and how many were regrouped. A group is the folder-relative base name, so
    `dog/x_aug1.wav` and `dog/x.wav` share the group `dog/x`. Items keep `metadata["group_from"]`:
    `variant_name` (a member of such a set) or `file_name` (their own group).
    """
    keys = [(item.path.parent, variant_base(item.path.stem)) for item in items]
    sizes = Counter(keys)
    regrouped = 0
    out = []
    for item, (folder, base) in zip(items, keys):
        if sizes[(folder, base)] > 1:
            folder_id = Path(os.path.relpath(folder, root)).as_posix()
            group = base if folder_id == "." else f"{folder_id}/{base}"
            regrouped += base != item.path.stem
            metadata = {**item.metadata, "group_from": "variant_name", "variant_of": base}
        else:
            group, metadata = item.group, {**item.metadata, "group_from": "file_name"}
        out.append(Item(item.item_id, item.path, item.label, group, item.parent_id, item.targets, metadata))
    return out, regrouped


def grouping_note(index: DatasetIndex) -> str | None:
    """What the user should know about a folder dataset's groups (None when a group column gave them all)."""
    if all(item.metadata.get("group_from") == "csv" for item in index.items):
        return None
    regrouped = sum(1 for item in index.items if item.metadata.get("variant_of", item.path.stem) != item.path.stem)
    return (f"no group column: each file is its own group, except {regrouped} files grouped with their source by "
            "variant name (x_aug3, x_pitch, x (1) -> x); copies under other names are found only by the audit "
            "(fix: list path,label,group in a labels.csv)")


def csv_path_for(root: Path) -> Path | None:
    """The labels CSV if `root` is one or holds `labels.csv`, else None (class-folder mode)."""
    if root.is_file() and root.suffix.lower() == ".csv":
        return root
    if root.is_dir() and (root / CSV_NAME).is_file():
        return root / CSV_NAME
    return None


def _load_tree(root: Path) -> tuple[list[Item], list[Problem]]:
    items: list[Item] = []
    problems: list[Problem] = []
    for path in audio_files(root):
        problems.append(Problem(str(path), "audio file outside a class folder (fix: move it into a class_name/ folder)", path.stem))
    for class_dir in sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")):
        for path in audio_files(class_dir, recursive=True):
            items.append(Item(relative_id(path, root), path, class_dir.name, path.stem, metadata={}))
    return items, problems


def _load_csv(csv_path: Path, strict: bool) -> tuple[list[Item], list[Problem]]:
    base = csv_path.parent
    items: list[Item] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    fieldnames, rows = read_csv_dicts(csv_path)
    columns = [name.strip() for name in fieldnames]
    if "path" not in columns or "label" not in columns:
        raise DatasetError(f"{csv_path}: needs a header with at least 'path,label' (optional group, split, parent), got {columns} (fix: add the missing column(s) to the first line of the CSV)")
    for line, raw in enumerate(rows, start=2):
        row = {key.strip(): (value or "").strip() for key, value in raw.items() if key is not None}
        source = f"{csv_path}:{line}"
        try:
            if not row.get("path") or not row.get("label"):
                raise DatasetError(f"{source}: empty path or label (fix: fill in or remove the row)")
            path = resolve_inside(base, row["path"], source)
            split = row.get("split", "")
            metadata: dict[str, str] = {}
            if split:
                if split.lower() not in SPLIT_NAMES:
                    raise DatasetError(f"{source}: split {split!r} is not one of train, val, test (fix: correct the row)")
                metadata["split"] = SPLIT_NAMES[split.lower()]
        except DatasetError as error:
            if strict:  # lenient (verify, features): listed, and the file is never opened
                raise
            problems.append(Problem(source, f"bad metadata row: {error}"))
            continue
        item_id = relative_id(path, base)
        if item_id in seen:
            problems.append(Problem(str(path), f"duplicate row (lines {seen[item_id]} and {line})", item_id))
            continue
        seen[item_id] = line
        if not path.is_file():
            problems.append(Problem(str(path), f"missing file: listed in {csv_path.name} line {line} but not on disk", item_id))
            continue
        if row.get("group"):
            metadata["group_from"] = "csv"
        items.append(Item(item_id, path, row["label"], row.get("group") or path.stem, row.get("parent") or None, metadata=metadata))
    listed = {Path(problem.path).resolve() for problem in problems} | {item.path.resolve() for item in items}
    for path in audio_files(base, recursive=True):
        if path.resolve() not in listed:
            problems.append(Problem(str(path), f"extra file: under {base} but not listed in {csv_path.name}", relative_id(path, base)))
    return items, problems


def load_folder(root: Path | str, strict: bool = True) -> DatasetIndex:
    """Index a class-folder tree or a labels CSV (see the module docstring)."""
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: not found (fix: pass a folder of class_name/ sub-folders or a labels CSV)")
    csv_path = csv_path_for(root)
    if csv_path is None and not root.is_dir():
        raise DatasetError(f"{root}: neither a folder nor a .csv file (fix: pass a folder of class_name/ sub-folders, a folder holding {CSV_NAME}, or the CSV itself)")
    items, problems = _load_csv(csv_path, strict) if csv_path else _load_tree(root)
    if not items and not problems:
        raise DatasetError(f"{root}: no audio found (fix: put audio in class_name/ sub-folders or list it in {CSV_NAME})")
    base = csv_path.parent if csv_path else root
    ungrouped = [i for i, item in enumerate(items) if item.metadata.get("group_from") != "csv"]
    if ungrouped:
        inferred, regrouped = infer_groups([items[i] for i in ungrouped], base)
        for i, item in zip(ungrouped, inferred):
            items[i] = item
        if regrouped:
            warnings.warn(f"{csv_path or root}: no group column; {regrouped} files grouped with their source by variant "
                          "name (x_aug3, x_pitch, x (1) -> x) (fix: list path,label,group in a labels.csv to set groups)",
                          GroupingWarning, stacklevel=2)
    classes = sorted({item.label for item in items if item.label is not None})
    return DatasetIndex("folder", base, items, classes, problems)
