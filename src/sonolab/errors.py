"""Typed errors. A `SonolabError` is a user mistake or bad input: the CLI prints it as one line."""

from __future__ import annotations

from pathlib import Path


class SonolabError(Exception):
    """Base class of every error that is the user's to fix; `str()` names the file and the fix."""


class AudioLoadError(SonolabError):
    """An audio file could not be used: unreadable, empty, non-finite or truncated."""

    def __init__(self, path: str | Path, reason: str, fix: str = "") -> None:
        self.path = Path(path)
        self.reason = reason
        self.fix = fix
        message = f"{self.path}: {reason}"
        if fix:
            message += f" (fix: {fix})"
        super().__init__(message)


class DatasetError(SonolabError):
    """A dataset's layout or metadata is wrong (missing file, unparseable name, path escaping the root)."""


class ConfigError(SonolabError):
    """A recipe, setting or command-line value is invalid."""
