"""`sonolab train / evaluate / report / predict` end to end on generated EmoDB-named files, with the
shipped EmoDB recipe made tiny through --set; then a resume that skips the finished fold."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
from generated import make_emodb  # noqa: E402

from sonolab.cli import app  # noqa: E402

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "emodb_cnn.yaml"
TINY = [
    "training.epochs=3", "training.batch_size=8", "training.lr=0.003", "training.patience=2",
    "seeds=[0]", "split.max_folds=1", "features.n_mels=24", "features.n_fft=256", "features.hop_length_samples=256",
    "framing.target_frames=24", "model.channels=[4, 8]", "model.classifier_hidden=8", "model.attention_reduction=2",
]


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_emodb_recipe_end_to_end(tmp_path: Path) -> None:
    root = make_emodb(tmp_path / "emodb")
    run_dir = tmp_path / "run"
    sets = [value for item in TINY for value in ("--set", item)]
    _invoke("train", str(RECIPE), "--root", str(root), "--out", str(run_dir), "--no-progress", *sets)

    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary["classes"]) == {"anger", "sadness"} or len(summary["classes"]) == 2
    for metric in ("accuracy", "balanced_accuracy", "macro_f1", "roc_auc_ovr"):
        assert summary["metrics"][metric]["n"] == 1 and 0.0 <= summary["metrics"][metric]["mean"] <= 1.0
    assert summary["per_fold"][0]["fold"] == summary["folds"][0] and summary["per_seed"][0]["seed"] == 0
    seed_dir = run_dir / summary["folds"][0] / "seed_0"
    fold_metrics = json.loads((seed_dir / "metrics.json").read_text())
    # validation scores of the restored model, beside the test scores: what a recipe change is chosen by
    assert summary["val_metrics"]["accuracy"]["mean"] == pytest.approx(fold_metrics["val"]["accuracy"])
    assert summary["runs"][0]["val_accuracy"] == pytest.approx(fold_metrics["val"]["accuracy"])
    for name in ("metrics.json", "model.safetensors", "model.json", "predictions.csv", "checkpoints/last.ckpt"):
        assert (seed_dir / name).is_file(), name
    assert (run_dir / "recipe.yaml").is_file() and "packages" in json.loads((run_dir / "environment.json").read_text())["attempts"][0]
    meta = json.loads((seed_dir / "model.json").read_text())
    assert meta["feature_settings"]["db_reference"] == "dataset_max"
    assert meta["feature_settings"]["dataset_max_reference"] > 0  # frozen from the fold's training partition
    metrics = json.loads((seed_dir / "metrics.json").read_text())
    splits = json.loads((run_dir / "splits.json").read_text())
    test_speakers = {splits["groups"][i] for i in splits["folds"][0]["partitions"]["test"]}
    train_speakers = {splits["groups"][i] for i in splits["folds"][0]["partitions"]["train"] + splits["folds"][0]["partitions"]["val"]}
    assert len(test_speakers) == 1 and not test_speakers & train_speakers  # speaker-independent
    assert metrics["counts"]["test"] == 10

    out = _invoke("evaluate", str(run_dir), "--json")
    evaluated = json.loads(out)
    assert evaluated["accuracy"]["mean"] == pytest.approx(summary["metrics"]["accuracy"]["mean"], abs=1e-6)

    _invoke("report", str(run_dir))
    page = (run_dir / "report.html").read_text()
    assert "data:image/png;base64," in page and "balanced_accuracy" in page
    assert "± " in (run_dir / "report.md").read_text()

    wav = next((root / "wav").glob("*.wav"))
    predicted = json.loads(_invoke("predict", str(run_dir), str(wav), "--json"))
    row = predicted["predictions"][0]
    assert row["label"] in summary["classes"] and sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)

    # resuming a finished run trains nothing and keeps the summary
    before = (run_dir / "summary.json").read_text()
    output = _invoke("train", str(RECIPE), "--root", str(root), "--out", str(run_dir), "--resume", "--no-progress", *sets)
    assert json.loads((run_dir / "summary.json").read_text())["metrics"] == json.loads(before)["metrics"]
    assert len(json.loads((run_dir / "environment.json").read_text())["attempts"]) == 2
    # a different recipe in the same folder is refused
    result = CliRunner().invoke(app, ["train", str(RECIPE), "--root", str(root), "--out", str(run_dir), *sets])
    assert result.exit_code != 0
