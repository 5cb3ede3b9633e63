"""Atomic file writing: write to a temporary name in the same folder, fsync it, rename, fsync the folder.

A crash, an interrupt or a power loss never leaves a half-written output behind, and a completion marker
written this way is only seen once its content (and everything written before it) is on disk.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_path(path: str | Path) -> None:
    """Flush a file's or a folder's data to disk (folders: the entries, e.g. a rename). No-op where the
    platform cannot open folders (Windows)."""
    try:
        descriptor = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on error removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(temporary_name)
    try:
        yield temporary
        if temporary.exists():  # mkstemp creates mode 0600; give the file the usual umask-based mode
            os.chmod(temporary, 0o666 & ~_current_umask())
            fsync_path(temporary)
        os.replace(temporary, path)
        fsync_path(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically (UTF-8)."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return Path(path)


def write_json_atomic(path: str | Path, payload: Any) -> Path:
    """Write `payload` as indented JSON to `path` atomically."""
    return write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


def save_figure_atomic(figure: Any, path: str | Path, dpi: int = 110) -> Path:
    """Save a matplotlib figure atomically (format from the suffix, PNG by default), then close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        with atomic_path(path) as temporary:
            figure.savefig(temporary, format=path.suffix.lstrip(".") or "png", dpi=dpi)
    finally:
        plt.close(figure)
    return path
