"""Task registry: `recipe['task']` names the function that runs a recipe. Other packages register
their own (e.g. `TASKS['bimodal'] = run_bimodal`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sonolab.errors import ConfigError
from sonolab.train.classification import run_classification

TaskRunner = Callable[..., Path]  # (recipe, root, out_dir, resume=False, progress=True) -> run folder

TASKS: dict[str, TaskRunner] = {"classification": run_classification}


def register_builtin_tasks() -> None:
    """Import the task packages that ship with sonolab; each adds itself (and its recipe section) here."""
    import sonolab.train.bimodal  # noqa: F401  (registers the `bimodal` task and recipe section)


def run_recipe(recipe: dict[str, Any], root: str | Path | None = None, out_dir: str | Path | None = None,
               resume: bool = False, progress: bool = True) -> Path:
    """Validate `recipe`, then run it with the task it names; returns the run folder.

    `root` overrides the recipe's `root`; `out_dir` defaults to `runs/<name>-<timestamp>`.
    """
    from sonolab.train.config import validate_recipe
    from sonolab.train.runs import default_run_dir

    resolved = validate_recipe(recipe)  # registers the built-in tasks first
    task = resolved.get("task") or "classification"
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r} (known: {', '.join(sorted(TASKS))})")
    data_root = root if root is not None else resolved.get("root")
    if not data_root:
        raise ConfigError("no data root: pass --root DIR or set 'root' in the recipe")
    resolved["root"] = str(data_root)
    return TASKS[task](resolved, Path(data_root), Path(out_dir) if out_dir else default_run_dir(resolved), resume=resume, progress=progress)
