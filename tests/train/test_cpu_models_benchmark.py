"""benchmarks/cpu_models.py's helpers: the CNN row's child-process run and the baseline row's settings."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from generated import make_fsdd

from sonolab.train.runner import run

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from benchmark_modules import load_benchmark  # noqa: E402


def _cpu_models():
    return load_benchmark("cpu_models")


RECIPE = {
    "task": "classical", "dataset": "fsdd", "features": {"kind": "functionals", "f0": False},
    "split": {"strategy": "loso", "max_folds": 2}, "head": {"name": "logistic_regression"}, "seeds": [0],
    "baseline": {"enabled": False},
}


def test_a_background_run_gives_the_same_summary_as_an_in_process_run_and_its_own_cpu_time(tmp_path: Path) -> None:
    root = make_fsdd(tmp_path / "fsdd", speakers=3, takes=4)
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(RECIPE))
    background = _cpu_models().BackgroundRun(recipe_file, root, tmp_path / "child", ["audit.content=never"])
    summary, (wall_s, cpu_s, _) = background.finish()
    expected = json.loads((run({**RECIPE, "audit": {"content": "never"}}, root=root, out_dir=tmp_path / "here",
                               progress=False) / "summary.json").read_text())
    assert summary["metrics"] == expected["metrics"] and summary["metrics"]["accuracy"]["n_folds"] == 2
    assert 0 < cpu_s and 0 < wall_s  # the child's own rusage, waited for once


def test_a_failed_background_run_names_its_log(tmp_path: Path) -> None:
    recipe_file = tmp_path / "recipe.yaml"
    recipe_file.write_text(yaml.safe_dump(RECIPE))
    background = _cpu_models().BackgroundRun(recipe_file, tmp_path / "no-such-root", tmp_path / "child", [])
    with pytest.raises(RuntimeError, match="child.log"):
        background.finish()
    assert background.log.read_text()  # the child's error is kept there


def test_the_baseline_row_uses_the_recipes_own_baseline_settings() -> None:
    baseline = _cpu_models()._baseline_of(REPO / "recipes" / "esc50_cpu.yaml")
    assert baseline["features"] == {"kind": "functionals", "f0": False}
    assert baseline["head"]["name"] == "linear_svm" and baseline["head"]["c_grid"] == [0.0001, 0.001, 0.01]
    # a recipe that turns its own baseline off still names sonolab's default one
    assert _cpu_models()._baseline_of(REPO / "recipes" / "fsdd_cpu.yaml") == {
        "features": {"kind": "functionals"}, "head": {"name": "linear_svm"}}
