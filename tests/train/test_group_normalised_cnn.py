"""`features.group_normalisation: per_group_standardise` for the CNN (classification) task: each group's (speaker's)
log-mel bands standardised with that group's own statistics, no labels; training, re-scoring and prediction agree."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from generated import make_fsdd

from sonolab.data.group_normalisation import band_statistics, group_band_statistics
from sonolab.errors import ConfigError
from sonolab.train.config import validate_recipe
from sonolab.train.runner import run

RECIPE = {
    "task": "classification", "dataset": "fsdd",
    "features": {"sample_rate_hz": 8000, "n_fft": 256, "hop_length_samples": 128, "n_mels": 24, "db_reference": "dataset_max",
                 "group_normalisation": "per_group_standardise"},
    "framing": {"target_frames": 16, "crop": "random", "eval_crop": "middle"},
    "split": {"strategy": "loso", "max_folds": 1},
    "model": {"name": "baseline_cnn", "channels": [4, 8], "dropout": 0.1},
    "training": {"epochs": 2, "batch_size": 8, "lr": 0.003, "patience": 0, "scheduler": "cosine"},
    "seeds": [0],
}


def _matrices(seed: int, groups: dict[str, float]) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Five random `(8, frames)` dB matrices per group, each group with its own offset and spread."""
    rng = np.random.default_rng(seed)
    matrices, groups_by_id = {}, {}
    for group, offset in groups.items():
        for take in range(5):
            item_id = f"{group}_{take}"
            matrices[item_id] = offset + (1.0 + offset / 10) * rng.standard_normal((8, int(rng.integers(5, 30))))
            groups_by_id[item_id] = group
    return matrices, groups_by_id


def test_each_group_is_standardised_by_its_own_frames_only() -> None:
    matrices, groups = _matrices(0, {"a": -30.0, "b": -10.0})
    statistics = group_band_statistics(matrices.__getitem__, groups, matrices)
    frames_a = np.concatenate([matrices[i] for i in matrices if groups[i] == "a"], axis=1)
    np.testing.assert_allclose(statistics["a"].mean, frames_a.mean(axis=1))
    np.testing.assert_allclose(statistics["a"].std, frames_a.std(axis=1))
    standardised = statistics["a"].standardise(frames_a)
    np.testing.assert_allclose(standardised.mean(axis=1), 0.0, atol=1e-5)
    np.testing.assert_allclose(standardised.std(axis=1), 1.0, atol=1e-5)
    # another group's recordings change nothing of group a's statistics
    changed = dict(matrices, **{i: m * 3 - 7 for i, m in matrices.items() if groups[i] == "b"})
    again = group_band_statistics(changed.__getitem__, groups, changed)
    np.testing.assert_array_equal(again["a"].mean, statistics["a"].mean)
    np.testing.assert_array_equal(again["a"].std, statistics["a"].std)
    assert not np.allclose(again["b"].mean, statistics["b"].mean)
    constant = band_statistics([np.full((3, 4), -20.0)])
    assert np.all(constant.std == 1.0)  # a constant band is centred, not blown up
    with pytest.raises(ValueError):
        band_statistics([])


def test_the_dataset_standardises_the_framed_input_with_the_items_group() -> None:
    from sonolab.train.data import SpectrogramDataset

    matrices, groups = _matrices(1, {"a": -30.0, "b": -10.0})
    statistics = group_band_statistics(matrices.__getitem__, groups, matrices)
    ids = sorted(matrices)
    plain = SpectrogramDataset([matrices[i] for i in ids], [0] * len(ids), 20, -80.0, "middle")
    normalised = SpectrogramDataset([matrices[i] for i in ids], [0] * len(ids), 20, -80.0, "middle",
                                    group_statistics=[statistics[groups[i]] for i in ids])
    for index, item_id in enumerate(ids):
        expected = statistics[groups[item_id]].standardise(plain.features(index))
        np.testing.assert_array_equal(normalised.features(index), expected)


def test_the_cnn_task_accepts_group_normalisation_and_the_bimodal_task_refuses_it() -> None:
    from sonolab.train.tasks import get_task

    get_task("classification").check(validate_recipe(copy.deepcopy(RECIPE)))
    with pytest.raises(ConfigError, match="group_normalisation"):
        from sonolab.train.feature_section import refuse_non_logmel

        refuse_non_logmel(RECIPE["features"], "bimodal")


@pytest.fixture(scope="module")
def fsdd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fsdd(tmp_path_factory.mktemp("fsdd_groups"), speakers=4, takes=4)


def test_training_rescoring_and_prediction_use_the_same_group_statistics(fsdd_root: Path, tmp_path: Path) -> None:
    from sonolab.data.splits import load_splits
    from sonolab.train.export import load_model
    from sonolab.train.predict import evaluate_run, predict_files

    run_dir = run(copy.deepcopy(RECIPE), root=fsdd_root, out_dir=tmp_path / "run", progress=False)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert any("transductive" in note for note in summary.get("notes", []))
    seed_dir = next(run_dir.glob("*/seed_0"))
    _, meta = load_model(seed_dir)
    assert meta["group_normalisation"] == "per_group_standardise"
    # re-scoring from the audio files standardises the test speaker by its own recordings, as training did
    evaluation = evaluate_run(run_dir, progress=False)
    assert evaluation["metrics"]["accuracy"]["mean"] == pytest.approx(summary["metrics"]["accuracy"]["mean"], abs=1e-9)
    test_ids = load_splits(run_dir / "splits.json").folds[0].test
    with (seed_dir / "predictions.csv").open(newline="") as handle:
        stored = {row["item_id"]: [float(v) for k, v in row.items() if k.startswith("p_")] for row in csv.DictReader(handle)}
    # the test speaker's files predicted together form that speaker's group: the same inputs as in training
    result = predict_files(seed_dir, [fsdd_root / "recordings" / f"{item_id}.wav" for item_id in test_ids])
    assert "one group" in result["note"]
    for item_id, row in zip(test_ids, result["predictions"]):
        np.testing.assert_allclose([row["probabilities"][name] for name in meta["classes"]], stored[item_id], atol=2e-3)
    # a subset of the speaker's files has other statistics: the inputs (and so the probabilities) change
    subset = predict_files(seed_dir, [fsdd_root / "recordings" / f"{item_id}.wav" for item_id in test_ids[:3]])
    assert any(not np.allclose([subset["predictions"][i]["probabilities"][name] for name in meta["classes"]], stored[item_id], atol=1e-6)
               for i, item_id in enumerate(test_ids[:3]))
