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
# Music emotion: `merge` detects the part (bimodal, then audio, then lyrics; complete before balanced);
# `merge_audio` / `merge_lyrics` / `merge_bimodal` force one, each optionally suffixed `_complete` or `_balanced`.
MUSIC_DATASET_NAMES: tuple[str, ...] = ("merge_audio", "merge_lyrics", "merge_bimodal", "4q")
ALL_DATASET_NAMES: tuple[str, ...] = DATASET_NAMES + MUSIC_DATASET_NAMES


def _merge_part_and_variant(key: str) -> tuple[str | None, str | None] | None:
    """('audio', 'balanced') for key 'mergeaudiobalanced'; (None, None) for 'merge'; None if not a MERGE name."""
    if not key.startswith("merge"):
        return None
    rest = key[len("merge"):]
    part = next((name for name in ("bimodal", "audio", "lyrics") if rest.startswith(name)), None)
    rest = rest[len(part):] if part else rest
    if rest not in ("", "complete", "balanced"):
        return None
    return part, rest or None


def _load_merge(root: Path, part: str | None, variant: str | None) -> DatasetIndex:
    module = importlib.import_module("sonolab.data.merge")
    return module.load_merge(root, variant=variant, part=part)


def load_dataset(name: str, root: Path | str, strict: bool = True, variant: str | None = None) -> DatasetIndex:
    """Index dataset `name` (one of ALL_DATASET_NAMES, MERGE names optionally ending in _complete/_balanced) at `root`.

    `variant` (complete | balanced) forces the MERGE variant where the name does not.

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
    if key in ("4q", "fourq"):
        from sonolab.data.fourq import load_fourq

        return load_fourq(root)
    merge = _merge_part_and_variant(key)
    if merge is not None:
        part, named_variant = merge
        if variant is not None and named_variant is not None and variant != named_variant:
            raise DatasetError(f"dataset {name!r} names the {named_variant} variant but variant={variant!r} was asked (fix: drop one)")
        return _load_merge(root, part, named_variant or variant)
    raise DatasetError(f"unknown dataset {name!r} (fix: use one of {', '.join(ALL_DATASET_NAMES)}; MERGE names may end in _complete or _balanced)")
