"""Recipes: defaults, validation naming the unknown key and the file, --set overrides, sweep grids, task registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from sonolab.errors import ConfigError
from sonolab.train.config import expand_sweep, load_recipe, parse_override
from sonolab.train.tasks import TASKS, run_recipe

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


@pytest.mark.parametrize("name", ["fsdd_cnn", "emodb_cnn", "esc50_cnn", "esc50_resnet50"])
def test_shipped_recipes_validate(name: str) -> None:
    recipe = load_recipe(RECIPES / f"{name}.yaml")
    assert recipe["task"] == "classification"
    assert recipe["training"]["gradient_clip_norm"] > 0
    assert recipe["features"]["db_reference"] == "dataset_max"


def test_unknown_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("dataset: fsdd\ntraining:\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*training\.learning_rate"):
        load_recipe(path)
    path.write_text("dataset: fsdd\nfeatures:\n  n_mel: 40\n")
    with pytest.raises(ConfigError, match=r"features\.n_mel"):
        load_recipe(path)
    path.write_text("dataset: fsdd\n")
    with pytest.raises(ConfigError, match=r"training\.epoch\b"):
        load_recipe(path, ["training.epoch=3"])


def test_set_overrides_are_yaml_values(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("dataset: fsdd\nseeds: [0]\n")
    recipe = load_recipe(path, ["training.lr=1e-4", "seeds=[1, 2]", "model.channels=[4, 8]", "split.max_folds=2"])
    assert recipe["training"]["lr"] == pytest.approx(1e-4)
    assert recipe["seeds"] == [1, 2]
    assert recipe["model"]["channels"] == [4, 8]
    assert recipe["training"]["epochs"] == 30  # untouched defaults stay
    assert parse_override("training.scheduler=cosine") == ("training.scheduler", "cosine")
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_override("training.lr")


def test_sweep_expands_to_the_grid(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("dataset: fsdd\nsweep:\n  training.lr: [0.1, 0.01]\n  training.batch_size: [8, 16, 32]\n")
    trials = expand_sweep(load_recipe(path))
    assert len(trials) == 6
    combos = {(t[2]["training"]["lr"], t[2]["training"]["batch_size"]) for t in trials}
    assert combos == {(lr, bs) for lr in (0.1, 0.01) for bs in (8, 16, 32)}
    path.write_text("dataset: fsdd\nsweep:\n  training.lr_typo: [0.1]\n")
    with pytest.raises(ConfigError, match="lr_typo"):
        load_recipe(path)


def test_tasks_registry_dispatches_on_task(tmp_path: Path) -> None:
    calls = []
    TASKS["dummy"] = lambda recipe, root, out_dir, resume=False, progress=True: calls.append(recipe["task"]) or Path(out_dir)
    try:
        assert run_recipe({"task": "dummy", "dataset": "x"}, root=tmp_path, out_dir=tmp_path / "run") == tmp_path / "run"
        assert calls == ["dummy"]
        with pytest.raises(ConfigError, match="unknown task"):
            run_recipe({"task": "nope", "dataset": "x"}, root=tmp_path, out_dir=tmp_path / "run")
    finally:
        del TASKS["dummy"]
