"""Path helpers shared by the dataset modules: metadata paths must stay inside the dataset root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
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


def check_output_path(path: Path | str, option: str, directory: bool = False) -> Path:
    """Refuse, before any long work, an output path that cannot be written; ConfigError naming it.

    `directory=False`: `path` is a file to write (it must not be an existing folder); `directory=True`:
    a folder to create or reuse (it must not be an existing file). In both cases the nearest existing
    ancestor must be a writable folder, since the missing ones are created.
    """
    from sonolab.errors import ConfigError

    path = Path(path)
    if directory and path.exists() and not path.is_dir():
        raise ConfigError(f"{path}: {option} exists and is not a folder (fix: pass a new or existing folder)")
    if not directory and path.is_dir():
        raise ConfigError(f"{path}: {option} is an existing folder, not a file (fix: pass a file path inside it, e.g. {path / 'NAME'})")
    ancestor = Path(os.path.abspath(path if directory else path.parent))
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{path}: cannot create {option}: {ancestor} is a file, not a folder (fix: choose another {option} path)")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"{path}: cannot create {option}: {ancestor} is not writable (fix: choose a writable {option} path)")
    return path


@contextmanager
def output_errors(path: Path | str, option: str) -> Iterator[None]:
    """Turn an OSError while writing `path` (disk full, read-only file system...) into one clear ConfigError."""
    from sonolab.errors import ConfigError

    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError(f"{path}: cannot write {option} ({reason}) (fix: choose a writable {option} path with free space)") from error


def read_csv_dicts(path: Path) -> tuple[list[str], list[dict[str | None, str | list[str] | None]]]:
    """(header, rows) of a metadata CSV as `csv.DictReader` gives them; a byte-order mark is accepted.

    A file that is not UTF-8 text or not CSV is one DatasetError naming it.
    """
    import csv

    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            return list(reader.fieldnames or []), rows
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path}: not UTF-8 text ({error}) (fix: re-save the CSV as UTF-8)") from error
    except csv.Error as error:
        raise DatasetError(f"{path}: malformed CSV ({error}) (fix: re-export it as comma-separated UTF-8 text)") from error
