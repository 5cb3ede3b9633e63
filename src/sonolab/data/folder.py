"""Users' own data: a `class_name/*.wav` tree, or a CSV `path,label[,group][,split][,parent]`.

- Tree: every sub-folder of the root is a class; audio files inside it (at any depth) are its items.
- CSV: `root` is the CSV file itself or a folder holding `labels.csv`; paths are relative to the CSV's
  folder and must stay inside it. `split` (train/val/test) feeds the `official` split strategy;
  `parent` names the item id an augmented variant was made from.

Item id = path relative to the root without the extension; group defaults to the file stem.
"""

from __future__ import annotations

from pathlib import Path

from sonolab.data.items import DatasetIndex, Item, Problem
from sonolab.data.paths import audio_files, read_csv_dicts, relative_id, resolve_inside
from sonolab.errors import DatasetError

CSV_NAME = "labels.csv"
SPLIT_NAMES: dict[str, str] = {
    "train": "train", "training": "train", "val": "val", "valid": "val", "validate": "val",
    "validation": "val", "dev": "val", "test": "test", "testing": "test",
}


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
    classes = sorted({item.label for item in items if item.label is not None})
    return DatasetIndex("folder", csv_path.parent if csv_path else root, items, classes, problems)
