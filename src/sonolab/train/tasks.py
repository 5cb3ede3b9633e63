"""Task plugins: what a task supplies to the one runner (`sonolab.train.runner`), and where each lives.

A task plugin owns no orchestration (no fold, seed or trial loop, no splits, no summary); it supplies:
- `name`, `section` (its own recipe section name, or None) and `section_defaults()` (torch-free);
- `check(recipe)`: refuse every option it does not implement, with one error naming the key;
- `validation_metrics(recipe)`: the names its training logs, so the monitor is checked before training;
- `default_monitor(recipe)`: the monitor when the recipe names none;
- `headline_metrics(recipe)`: the metric names its records carry, in report order;
- `load_index(recipe, root)`: the dataset's items;
- `prepare(recipe, index, folds, cache_dir, progress)`: features for one trial (cached by that trial's own
  settings), returning an object with `usable` (item ids with features), `problems` (dicts) and `extras`;
- `run(recipe, prepared, fold, partitions, seed, out_dir, resume, progress)`: train, select on validation and
  score the test partition of one fold with one seed; returns the record (`val`, `test`, `val_monitor`, ...)
  or None in a DDP rank other than 0.
Plugins are looked up by name in a fixed table and imported on first use: no import-time registration and
no mutable registry.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol

from sonolab.errors import ConfigError

# name -> (module, class). Adding a task: write a module with a class that follows `TaskPlugin`, add it here.
TASK_PLUGINS: dict[str, tuple[str, str]] = {
    "classification": ("sonolab.train.classification", "ClassificationTask"),
    "bimodal": ("sonolab.train.bimodal.plugin", "BimodalTask"),
    "classical": ("sonolab.train.classical", "ClassicalTask"),
}
# Recipe sections that belong to one task: section -> (module, name of its defaults mapping). Torch-free modules.
TASK_SECTIONS: dict[str, tuple[str, str, str]] = {
    "bimodal": ("sonolab.train.bimodal.settings", "BIMODAL_DEFAULTS", "bimodal"),
    "head": ("sonolab.train.classical", "HEAD_DEFAULTS", "classical"),
}


class TaskPlugin(Protocol):
    name: str

    def check(self, recipe: dict[str, Any]) -> None: ...

    def validation_metrics(self, recipe: dict[str, Any]) -> tuple[str, ...]: ...

    def default_monitor(self, recipe: dict[str, Any]) -> str: ...

    def headline_metrics(self, recipe: dict[str, Any]) -> tuple[str, ...]: ...

    def load_index(self, recipe: dict[str, Any], root: Path) -> Any: ...

    def prepare(self, recipe: dict[str, Any], index: Any, folds: list[Any], cache_dir: Path, progress: bool) -> Any: ...

    def run(self, recipe: dict[str, Any], prepared: Any, fold: str, partitions: dict[str, list[str]], seed: int,
            out_dir: Path, resume: bool, progress: bool) -> dict[str, Any] | None: ...


def task_names() -> list[str]:
    return sorted(TASK_PLUGINS)


def get_task(name: str) -> TaskPlugin:
    """The plugin for `recipe['task']`."""
    if name not in TASK_PLUGINS:
        raise ConfigError(f"unknown task {name!r} (known: {', '.join(task_names())})")
    module_name, class_name = TASK_PLUGINS[name]
    return getattr(importlib.import_module(module_name), class_name)()


def section_defaults() -> dict[str, dict[str, Any]]:
    """Every task section's defaults (a fresh copy each call), for recipe validation."""
    import copy

    return {section: copy.deepcopy(getattr(importlib.import_module(module), attribute))
            for section, (module, attribute, _) in TASK_SECTIONS.items()}


def section_task(section: str) -> str:
    return TASK_SECTIONS[section][2]
