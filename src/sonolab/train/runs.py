"""Run folders: the resolved recipe, package versions, seeds, per fold/seed results and the summary.

Layout (a sweep adds one `trial_XX/` level holding the fold folders and its own summary):

    RUN_DIR/recipe.yaml  environment.json  splits.json  failures.json  summary.json  cache/
    RUN_DIR/<fold>/seed_<s>/{checkpoints/, logs/, tensorboard/, metrics.json, predictions.csv,
                             model.safetensors, model.json}

A fold/seed whose `metrics.json` (written last, fsynced) reads back is complete and skipped on `--resume`; an
unreadable one is set aside and the fold/seed runs again; one with only `checkpoints/last.ckpt` continues from it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import yaml

from sonolab.atomic import write_json_atomic, write_text_atomic
from sonolab.errors import ConfigError
from sonolab.train.config import dump_recipe

PACKAGES = ("sonolab", "torch", "torchvision", "lightning", "numpy", "scikit-learn", "librosa", "soundfile", "timm", "safetensors")


def environment_info(seeds: list[int]) -> dict[str, Any]:
    """Python, platform, accelerator and package versions, with the run's seeds."""
    import torch

    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "python": platform.python_version(), "platform": platform.platform(), "seeds": list(seeds),
        "cuda": torch.cuda.is_available(), "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "packages": versions, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def default_run_dir(recipe: dict[str, Any]) -> Path:
    name = recipe.get("name") or f"{recipe['dataset']}_{recipe['model'].get('name', 'model')}"
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def is_rank_zero() -> bool:
    """True in the process that owns the run folder: the only one, or rank 0 of a DDP group. Lightning's DDP
    launcher re-runs the command in child processes with `LOCAL_RANK` (and `NODE_RANK`) set; torchrun sets `RANK`."""
    if "RANK" in os.environ:
        return int(os.environ["RANK"]) == 0
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def prepare_run_dir(out_dir: str | Path, recipe: dict[str, Any], resume: bool) -> Path:
    """Create the run folder and write the resolved recipe; append this attempt to `environment.json`.

    A folder that already holds a run is only reused with `resume=True`, and then only for the same
    recipe, so results of two different experiments never mix. Only rank 0 of a DDP group creates,
    checks or writes the folder: the other ranks (re-launched copies of the same command) use it as it is.
    """
    out_dir = Path(out_dir)
    if not is_rank_zero():
        return out_dir
    recipe_path = out_dir / "recipe.yaml"
    if recipe_path.is_file():
        if not resume:
            raise ConfigError(f"{out_dir}: already holds a run (fix: add --resume to continue it, or choose another --out)")
        saved = yaml.safe_load(recipe_path.read_text(encoding="utf-8"))
        comparable = {key: value for key, value in recipe.items() if key != "root"}
        if {key: value for key, value in saved.items() if key != "root"} != comparable:
            raise ConfigError(f"{recipe_path}: the run was started with a different recipe (fix: resume with the same recipe and --set values, or use another --out)")
    elif resume and out_dir.exists() and any(out_dir.iterdir()):
        raise ConfigError(f"{out_dir}: nothing to resume (no recipe.yaml) (fix: start a new run with another --out)")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(recipe_path, dump_recipe(recipe))
    record_attempt(out_dir / "environment.json", environment_info(recipe["seeds"]))
    return out_dir


def record_attempt(path: Path, attempt: dict[str, Any]) -> None:
    """`environment.json` keeps one record per attempt (the first run and every resume), oldest first."""
    attempts: list[dict[str, Any]] = []
    if path.is_file():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
            attempts = previous.get("attempts", [previous]) if isinstance(previous, dict) else []
        except (OSError, ValueError):
            attempts = []
    write_json_atomic(path, {"attempts": [*attempts, attempt]})


def read_marker(path: Path) -> dict[str, Any] | None:
    """A fold/seed's `metrics.json` completion marker, or None when the fold/seed is not finished.

    An empty, truncated or otherwise unreadable marker means "not finished": it is set aside (renamed
    `*.corrupt`) with a warning, and the fold/seed runs again.
    """
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or "test" not in record:
            raise ValueError("no test metrics")
        return record
    except (OSError, ValueError) as error:
        from rich.console import Console

        Console(stderr=True).print(f"[yellow]{path}: unreadable completion marker ({error}); this fold/seed runs again[/]")
        if is_rank_zero():
            path.replace(path.with_name(path.name + ".corrupt"))
        return None


def run_task(run_dir: str | Path) -> str:
    """The task (`classification`, `bimodal`) a run folder was trained for, from its summary or model."""
    run_dir = Path(run_dir)
    for path in (run_dir / "summary.json", run_dir / "model.json"):
        if path.is_file():
            return str(json.loads(path.read_text(encoding="utf-8")).get("task") or "classification")
    return "classification"
