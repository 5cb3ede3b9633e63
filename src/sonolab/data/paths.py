"""Path helpers shared by the dataset modules: metadata paths must stay inside the dataset root."""

from __future__ import annotations

import os
from pathlib import Path

from sonolab.audio.io import AUDIO_EXTENSIONS
from sonolab.errors import DatasetError


def resolve_inside(root: Path, relative: str, source: str) -> Path:
    """`root / relative`, refused with a DatasetError if the metadata path escapes the root.

    The check is lexical (`..` and absolute paths), not through symlinks: a user may keep the audio
    on another disk behind a symlink inside the root; what metadata may not do is point outside it.
    """
    base = Path(os.path.abspath(root))
    candidate = Path(os.path.normpath(base / relative))
    if candidate != base and base not in candidate.parents:
        raise DatasetError(
            f"{source}: path {relative!r} points outside the dataset root {base} "
            "(fix: use a path relative to the root, without '..')"
        )
    return candidate


def require_directory(path: Path, what: str, fix: str) -> Path:
    """Return `path` if it is a directory, else raise a DatasetError naming it."""
    if not path.is_dir():
        raise DatasetError(f"{path}: {what} not found (fix: {fix})")
    return path


def audio_files(folder: Path, recursive: bool = False) -> list[Path]:
    """Audio files (by extension) under `folder`, sorted; hidden files are ignored."""
    pattern = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(
        path for path in pattern
        if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS and not path.name.startswith(".")
    )


def relative_id(path: Path, base: Path) -> str:
    """A stable item id: the path relative to `base`, POSIX separators, without the extension."""
    return Path(os.path.abspath(path)).relative_to(os.path.abspath(base)).with_suffix("").as_posix()
