"""`group_spreading` in runs: the classification (CNN) task spreads its validation and test predictions within each
group and records the scores without it beside them; the report's notes say it was transductive."""

from __future__ import annotations

import copy
import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from generated import make_fsdd

from sonolab.errors import ConfigError
from sonolab.evaluate.report import write_report
from sonolab.train.config import validate_recipe
from sonolab.train.runner import run

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmark_modules import load_benchmark  # noqa: E402

CNN_RECIPE = {
    "task": "classification", "dataset": "fsdd",
    "features": {"sample_rate_hz": 8000, "n_fft": 256, "hop_length_samples": 128, "n_mels": 24, "db_reference": "dataset_max"},
    "framing": {"target_frames": 16, "crop": "random", "eval_crop": "middle"},
    "split": {"strategy": "loso", "max_folds": 1},
    "model": {"name": "baseline_cnn", "channels": [4, 8], "dropout": 0.1},
    "training": {"epochs": 2, "batch_size": 8, "lr": 0.003, "patience": 0, "scheduler": "cosine"},
    "group_spreading": {"enabled": True, "neighbours": 3, "alpha": 0.8, "graph": "inputs+probabilities"},
    "baseline": {"enabled": False},
    "seeds": [0],
}


@pytest.fixture(scope="module")
def fsdd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fsdd(tmp_path_factory.mktemp("fsdd_spreading"), speakers=4, takes=4)


CLASSICAL_RECIPE = {
    "task": "classical", "dataset": "fsdd",
    "features": {"kind": "functionals", "f0": False, "group_normalisation": "per_group_standardise"},
    "split": {"strategy": "loso", "max_folds": 2},
    "head": {"name": "logistic_regression"},
    "group_spreading": {"enabled": True, "neighbours": 3, "alpha": 0.8},
    "baseline": {"enabled": False},
    "seeds": [0],
}


def _stored_probabilities(seed_dir: Path) -> dict[str, list[float]]:
    with (seed_dir / "predictions.csv").open(newline="") as handle:
        return {row["item_id"]: [float(v) for k, v in row.items() if k.startswith("p_")] for row in csv.DictReader(handle)}


def _check_spread_record(run_dir: Path, partitions: set[str]) -> tuple[dict, dict]:
    record = json.loads(next(run_dir.rglob("metrics.json")).read_text())
    spreading = record["group_spreading"]
    assert spreading["neighbours"] == 3 and spreading["alpha"] == 0.8 and spreading["graph"] in ("inputs", "inputs+probabilities")
    assert set(spreading["without"]) == partitions and "accuracy" in spreading["without"]["test"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert any("transductive" in note and "spreading" in note for note in summary.get("notes", []))
    assert summary["group_spreading"]["without"]["accuracy"]["mean"] == pytest.approx(
        np.mean([json.loads(p.read_text())["group_spreading"]["without"]["test"]["accuracy"] for p in run_dir.rglob("metrics.json")]))
    markdown, _ = write_report(run_dir)
    assert f"Group label spreading (transductive; k = 3, alpha = 0.8, graph = {spreading['graph']})" in markdown.read_text()
    return record, summary


def test_the_cnn_task_spreads_within_groups_and_evaluate_and_predict_agree(fsdd_root: Path, tmp_path: Path) -> None:
    from sonolab.data.splits import load_splits
    from sonolab.train.predict import evaluate_run, predict_files

    from sonolab.models.group_spreading import SpreadingSettings

    run_dir = run(copy.deepcopy(CNN_RECIPE), root=fsdd_root, out_dir=tmp_path / "run", progress=False)
    record, summary = _check_spread_record(run_dir, {"val", "test"})
    # re-scoring from the audio files spreads within the test speaker's files, as training did
    evaluation = evaluate_run(run_dir, progress=False)
    assert evaluation["metrics"]["accuracy"]["mean"] == pytest.approx(summary["metrics"]["accuracy"]["mean"], abs=1e-9)
    written = (run_dir / "evaluation.json").read_text()
    # the validation partition re-scored as the run scored it; other settings are scored without writing anything
    validation = evaluate_run(run_dir, progress=False, partition="val")
    assert validation["metrics"]["accuracy"]["mean"] == pytest.approx(record["val"]["accuracy"], abs=1e-9)
    evaluate_run(run_dir, progress=False, partition="test", spreading=SpreadingSettings(2, 0.5))
    assert (run_dir / "evaluation.json").read_text() == written
    rescore = load_benchmark("spreading_rescore")  # benchmarks/spreading_rescore.py pools what evaluate_run scores
    scored = rescore.scored([run_dir], None, "val", None)
    assert scored[0]["accuracy"] == pytest.approx(record["val"]["accuracy"], abs=1e-9)
    assert "1 folds x 1 seeds" in rescore.line("val", scored, "accuracy")
    seed_dir = next(run_dir.glob("*/seed_0"))
    test_ids = load_splits(run_dir / "splits.json").folds[0].test
    stored = _stored_probabilities(seed_dir)
    result = predict_files(seed_dir, [fsdd_root / "recordings" / f"{item_id}.wav" for item_id in test_ids])
    assert "spread" in result["note"] and "one group" in result["note"]
    for item_id, row in zip(test_ids, result["predictions"]):
        np.testing.assert_allclose(list(row["probabilities"].values()), stored[item_id], atol=2e-3)


def test_the_classical_task_chooses_its_head_after_spreading_and_evaluate_agrees(fsdd_root: Path, tmp_path: Path) -> None:
    from sonolab.train.classical_predict import evaluate_classical_run, predict_classical

    run_dir = run(copy.deepcopy(CLASSICAL_RECIPE), root=fsdd_root, out_dir=tmp_path / "run", progress=False)
    record, summary = _check_spread_record(run_dir, {"test"})
    assert all("mean_without_spreading" in entry for entry in record["head"]["inner_cv"])
    evaluation = evaluate_classical_run(run_dir, progress=False)
    assert evaluation["metrics"]["accuracy"]["mean"] == pytest.approx(summary["metrics"]["accuracy"]["mean"], abs=1e-6)
    predicted = predict_classical(run_dir, sorted((fsdd_root / "recordings").glob("*_spk3_*.wav")))
    assert predicted["failed"] == 0 and "spread" in predicted["note"]


def test_recipes_check_the_section() -> None:
    recipe = validate_recipe(copy.deepcopy(CNN_RECIPE))
    assert recipe["group_spreading"]["enabled"] is True
    assert validate_recipe({"task": "classification", "dataset": "fsdd"})["group_spreading"]["enabled"] is False
    with pytest.raises(ConfigError, match="alpha"):
        validate_recipe({**copy.deepcopy(CNN_RECIPE), "group_spreading": {"enabled": True, "alpha": 1.5}})
    with pytest.raises(ConfigError, match="graph"):
        validate_recipe({**copy.deepcopy(CNN_RECIPE), "group_spreading": {"enabled": True, "graph": "embedding"}})
    with pytest.raises(ConfigError, match="group_spreading"):
        validate_recipe({**copy.deepcopy(CNN_RECIPE), "group_spreading": {"enabled": True, "radius": 2}})
    with pytest.raises(ConfigError, match="group_spreading is implemented by the classification and classical tasks"):
        validate_recipe({"task": "bimodal", "dataset": "merge", "group_spreading": {"enabled": True}})


def test_a_run_on_data_whose_groups_hold_one_clip_each_is_refused_before_it_starts(tmp_path: Path) -> None:
    """A `folder` tree without a group column gives every file its own group: spreading could change nothing."""
    import soundfile as sf
    from generated import tone_or_noise

    rng = np.random.default_rng(0)
    for kind, name in enumerate(("tone", "noise")):
        (tmp_path / "data" / name).mkdir(parents=True)
        for take in range(6):
            sf.write(tmp_path / "data" / name / f"{name}{take}{'abcdef'[take]}.wav", tone_or_noise(kind, rng, 8000, 0.4), 8000)
    recipe = {**copy.deepcopy(CLASSICAL_RECIPE), "dataset": "folder", "split": {"strategy": "group-kfold", "folds": 2},
              "features": {"kind": "functionals", "f0": False}}
    with pytest.raises(ConfigError, match="holds one clip"):
        run(recipe, root=tmp_path / "data", out_dir=tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
