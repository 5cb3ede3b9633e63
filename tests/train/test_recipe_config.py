"""Recipes: defaults, validation naming the unknown key and the file, --set overrides, sweep grids, task registry."""

from __future__ import annotations

from pathlib import Path

import pytest

from sonolab.errors import ConfigError
from sonolab.train.config import expand_sweep, load_recipe, parse_override
from sonolab.train.runner import run_recipe
from sonolab.train.tasks import get_task

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


def test_tasks_are_plugins_looked_up_by_name_and_unknown_ones_are_errors(tmp_path: Path) -> None:
    from sonolab.train.bimodal.plugin import BimodalTask
    from sonolab.train.classification import ClassificationTask

    assert isinstance(get_task("classification"), ClassificationTask)
    assert isinstance(get_task("bimodal"), BimodalTask)
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        run_recipe({"task": "nope", "dataset": "x"}, root=tmp_path, out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_sweeping_a_split_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("dataset: fsdd\nsweep:\n  split.seed: [0, 1]\n")
    with pytest.raises(ConfigError, match="sweep.split.seed.*test partitions"):
        load_recipe(path)


def test_the_monitor_is_checked_against_what_the_task_logs_before_training(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("dataset: fsdd\ntraining:\n  monitor: val_acc\n")
    with pytest.raises(ConfigError, match="training.monitor 'val_acc' is not logged.*val_accuracy"):
        load_recipe(path)
    # a bimodal recipe without a quadrant head logs no accuracy: refused, not silently swapped for val_loss
    with pytest.raises(ConfigError, match="'val_accuracy' is not logged by the bimodal task"):
        load_recipe(RECIPES / "merge_bimodal.yaml", ["training.monitor=val_accuracy", "bimodal.heads.classification=false",
                                                    "bimodal.quadrant_from=regression"])


def test_a_task_section_on_another_task_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("dataset: fsdd\nbimodal:\n  fusion: gated\n")
    with pytest.raises(ConfigError, match="'bimodal' section applies to task bimodal"):
        load_recipe(path)


def test_recipes_validate_without_importing_torch() -> None:
    import subprocess
    import sys

    code = ("import sys; from sonolab.train.config import load_recipe; "
            f"[load_recipe(p) for p in {[str(p) for p in sorted(RECIPES.glob('*.yaml'))]!r}]; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("override, key", [("training.epochs=ten", "training.epochs"), ("split.val_fraction=1.5", "split.val_fraction"),
                                           ("framing.crop=centre", "framing.crop"), ("training.scheduler=step", "training.scheduler"),
                                           ("seeds=[]", "seeds")])
def test_values_of_the_wrong_type_or_range_fail_when_the_recipe_is_read(tmp_path: Path, override: str, key: str) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("dataset: fsdd\n")
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_recipe(path, [override])


def test_a_backbone_learning_rate_is_refused_where_no_pretrained_backbone_uses_it() -> None:
    from sonolab.train.config import validate_recipe

    with pytest.raises(ConfigError, match="backbone_lr_scale applies to a pretrained backbone"):
        validate_recipe({"dataset": "fsdd", "training": {"backbone_lr_scale": 0.5}})
    with pytest.raises(ConfigError, match="backbone_lr_scale applies to classification recipes only"):
        validate_recipe({"task": "bimodal", "dataset": "merge", "training": {"backbone_lr_scale": 0.5}})
