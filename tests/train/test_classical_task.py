"""The classical task through the one runner: clip vectors + a head chosen by grouped inner CV, saved without
pickle, re-scored by `evaluate`, used by `predict`; group normalisation said in the report; and the classical
baseline printed beside a CNN on the same folds."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from generated import make_fsdd

from sonolab.errors import ConfigError
from sonolab.train.config import validate_recipe
from sonolab.train.runner import run

CLASSICAL = {
    "task": "classical", "dataset": "fsdd",
    "features": {"kind": "functionals", "f0": False},
    "split": {"strategy": "loso", "max_folds": 2},
    "head": {"name": "logistic_regression"},
    "seeds": [0],
    "baseline": {"enabled": False},
}


@pytest.fixture(scope="module")
def fsdd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fsdd(tmp_path_factory.mktemp("fsdd"), speakers=4, takes=5)


def test_classical_run_saves_heads_that_evaluate_and_predict_reproduce(fsdd_root: Path, tmp_path: Path) -> None:
    from sonolab.evaluate.report import write_report
    from sonolab.train.classical_predict import evaluate_classical_run, predict_classical

    recipe = copy.deepcopy(CLASSICAL)
    recipe["features"]["group_normalisation"] = "per_group_standardise"
    out = run(recipe, root=fsdd_root, out_dir=tmp_path / "run", progress=False)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "classical" and summary["monitor"] == "val_balanced_accuracy"
    assert summary["metrics"]["accuracy"]["mean"] > 0.8  # tones vs noise
    assert summary["metrics"]["accuracy"]["n_folds"] == 2
    record = json.loads(next(out.glob("*/seed_0/metrics.json")).read_text())
    assert record["head"]["chosen"]["C"] > 0 and record["counts"]["fit"] == 30  # train + validation speakers
    head_dir = next(out.glob("*/seed_0/head"))
    assert {path.name for path in head_dir.iterdir()} == {"head.safetensors", "head.json"}  # no pickle
    evaluation = evaluate_classical_run(out, progress=False)
    assert evaluation["metrics"]["accuracy"]["mean"] == pytest.approx(summary["metrics"]["accuracy"]["mean"], abs=1e-6)
    files = sorted((fsdd_root / "recordings").glob("*_spk3_*.wav"))
    predicted = predict_classical(out, files)
    assert predicted["failed"] == 0 and "one group" in predicted["note"]
    assert {row["label"] for row in predicted["predictions"]} <= {"0", "1"}
    markdown, _ = write_report(out)
    assert "transductive" in markdown.read_text()


def test_a_cnn_run_shows_the_classical_baseline_on_the_same_folds(fsdd_root: Path, tmp_path: Path) -> None:
    from sonolab.evaluate.report import write_report

    recipe = {
        "task": "classification", "dataset": "fsdd",
        "features": {"sample_rate_hz": 8000, "n_fft": 256, "hop_length_samples": 128, "n_mels": 24},
        "framing": {"target_frames": 16, "crop": "random", "eval_crop": "middle"},
        "split": {"strategy": "loso", "max_folds": 1},
        "model": {"name": "baseline_cnn", "channels": [4, 8]},
        "training": {"epochs": 2, "batch_size": 8, "patience": 0},
        "baseline": {"features": {"kind": "functionals", "f0": False}},
    }
    out = run(recipe, root=fsdd_root, out_dir=tmp_path / "cnn", progress=False)
    summary = json.loads((out / "summary.json").read_text())
    baseline = summary["baseline"]
    assert baseline["description"] == "functionals features + linear svm"
    assert baseline["metrics"]["accuracy"]["n_folds"] == summary["metrics"]["accuracy"]["n_folds"] == 1
    baseline_record = json.loads(next((out / "baseline").glob("*/seed_0/metrics.json")).read_text())
    model_record = json.loads(next(out.glob("fold*/seed_0/metrics.json")).read_text())
    assert baseline_record["fold"] == model_record["fold"] and baseline_record["counts"]["test"] == model_record["counts"]["test"]
    markdown, _ = write_report(out)
    assert "classical baseline (functionals features + linear svm)" in markdown.read_text()


def test_the_classical_task_refuses_cnn_options_and_unknown_kinds() -> None:
    with pytest.raises(ConfigError, match="augment.spec_augment is not implemented by the classical task"):
        validate_recipe({**CLASSICAL, "augment": {"spec_augment": {"enabled": True}}})
    with pytest.raises(ConfigError, match="training.epochs is not used by the classical task"):
        validate_recipe({**CLASSICAL, "training": {"epochs": 5}})
    with pytest.raises(ConfigError, match="unknown feature kind 'mfcc'"):
        validate_recipe({**CLASSICAL, "features": {"kind": "mfcc"}})
    with pytest.raises(ConfigError, match="features.kind 'aisfx' is not implemented by the classification task"):
        validate_recipe({"task": "classification", "dataset": "fsdd", "features": {"kind": "aisfx"}})
    with pytest.raises(ConfigError, match="'head' section applies to task classical"):
        validate_recipe({"task": "classification", "dataset": "fsdd", "head": {"name": "rbf_svm"}})
