"""Run folders: the resolved recipe, package versions, seeds, per fold/seed results and the summary.

Layout (a sweep adds one `trial_XX/` level holding the fold folders and its own summary):

    RUN_DIR/recipe.yaml  environment.json  splits.json  failures.json  summary.json  cache/
    RUN_DIR/<fold>/seed_<s>/{checkpoints/, logs/, tensorboard/, metrics.json, predictions.csv,
                             model.safetensors, model.json}

A fold/seed whose `metrics.json` exists is complete and skipped on `--resume`; one with only
`checkpoints/last.ckpt` continues from it.
"""

from __future__ import annotations

import importlib.metadata
import json
import platform
import time
from pathlib import Path
from typing import Any

import yaml

from sonolab.atomic import write_json_atomic, write_text_atomic
from sonolab.errors import ConfigError
from sonolab.evaluate.metrics import SCALAR_METRICS, mean_std
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


def prepare_run_dir(out_dir: str | Path, recipe: dict[str, Any], resume: bool) -> Path:
    """Create the run folder and write the resolved recipe and environment.

    A folder that already holds a run is only reused with `resume=True`, and then only for the same
    recipe, so results of two different experiments never mix.
    """
    out_dir = Path(out_dir)
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
    environment_path = out_dir / "environment.json"
    write_json_atomic(environment_path, environment_info(recipe["seeds"]))
    return out_dir


def summarize_records(records: list[dict[str, Any]], metric_names: tuple[str, ...] = SCALAR_METRICS) -> dict[str, Any]:
    """Mean ± std of every test metric over all fold x seed records, plus per-fold and per-seed tables."""
    def scalars(record: dict[str, Any]) -> dict[str, Any]:
        return {name: record["test"].get(name) for name in metric_names}

    def validation(record: dict[str, Any]) -> dict[str, Any]:
        return {"val_" + name: record["val"][name] for name in metric_names if name in record.get("val", {})}

    per_fold: list[dict[str, Any]] = []
    for fold in dict.fromkeys(record["fold"] for record in records):
        rows = [scalars(record) for record in records if record["fold"] == fold]
        per_fold.append({"fold": fold, "seeds": len(rows), **{name: mean_std([row[name] for row in rows]) for name in metric_names}})
    per_seed: list[dict[str, Any]] = []
    for seed in dict.fromkeys(record["seed"] for record in records):
        rows = [scalars(record) for record in records if record["seed"] == seed]
        per_seed.append({"seed": seed, "folds": len(rows), **{name: mean_std([row[name] for row in rows]) for name in metric_names}})
    runs = [
        {"fold": record["fold"], "seed": record["seed"], "best_epoch": record["fit"]["best_epoch"],
         "epochs_run": record["fit"]["epochs_run"], "test_count": record["test"]["count"], **scalars(record),
         **validation(record),
         "val_" + record["fit"]["monitor"].removeprefix("val_"): record["fit"]["best_score"]}
        for record in records
    ]
    return {
        "metrics": {name: mean_std([scalars(record)[name] for record in records]) for name in metric_names},
        "val_monitor": mean_std([record["fit"]["best_score"] for record in records]),
        # The restored model's scores on each fold's validation speakers/groups: what a recipe change may be
        # chosen by without looking at the test partition.
        "val_metrics": {name: mean_std([record["val"][name] for record in records])
                        for name in metric_names if all(name in record.get("val", {}) for record in records)},
        "per_fold": per_fold,
        "per_seed": per_seed,
        "runs": runs,
    }


def run_task(run_dir: str | Path) -> str:
    """The task (`classification`, `bimodal`) a run folder was trained for, from its summary or model."""
    run_dir = Path(run_dir)
    for path in (run_dir / "summary.json", run_dir / "model.json"):
        if path.is_file():
            return str(json.loads(path.read_text(encoding="utf-8")).get("task") or "classification")
    return "classification"
