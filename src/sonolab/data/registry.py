"""One entry point to every dataset: `load_dataset(name, root)`."""

from __future__ import annotations

import importlib
from pathlib import Path

from sonolab.data.emodb import load_emodb
from sonolab.data.esc50 import load_esc50
from sonolab.data.folder import load_folder
from sonolab.data.fsdd import load_fsdd
from sonolab.data.items import DatasetIndex
from sonolab.errors import DatasetError

DATASET_NAMES: tuple[str, ...] = ("esc50", "emodb", "fsdd", "merge", "folder")


def _load_merge(root: Path) -> DatasetIndex:
    try:
        module = importlib.import_module("sonolab.data.merge")
    except ImportError as error:
        raise DatasetError(f"{root}: the MERGE loader (sonolab.data.merge) is not available ({error})") from error
    load_merge = getattr(module, "load_merge", None)
    if load_merge is None:
        raise DatasetError(f"{root}: sonolab.data.merge has no load_merge(root) yet")
    return load_merge(root)


def load_dataset(name: str, root: Path | str, strict: bool = True) -> DatasetIndex:
    """Index dataset `name` (one of DATASET_NAMES) at `root`.

    `strict=True` raises a DatasetError on a name or row that does not parse; `strict=False` (used by
    `verify`) lists it in `index.problems` instead. Missing and extra files are always listed there.
    """
    key = name.strip().lower().replace("-", "").replace("_", "")
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: dataset root not found (fix: pass --root pointing at the {name} folder)")
    if key == "esc50":
        return load_esc50(root, strict=strict)
    if key == "emodb":
        return load_emodb(root, strict=strict)
    if key == "fsdd":
        return load_fsdd(root, strict=strict)
    if key == "folder":
        return load_folder(root, strict=strict)
    if key == "merge":
        return _load_merge(root)
    raise DatasetError(f"unknown dataset {name!r} (fix: use one of {', '.join(DATASET_NAMES)})")
