"""The one runner: sweeps whose trials really use their own features, resume after a kill identical to an
uninterrupted run (classification and bimodal), corrupt completion markers, splits reloaded on resume."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from generated import make_fsdd

from sonolab.errors import ConfigError
from sonolab.train.config import validate_recipe
from sonolab.train.runner import run

TINY = {
    "task": "classification", "dataset": "fsdd",
    "features": {"sample_rate_hz": 8000, "n_fft": 256, "hop_length_samples": 128, "n_mels": 24, "db_reference": "dataset_max"},
    "framing": {"target_frames": 16, "crop": "random", "eval_crop": "middle"},
    "split": {"strategy": "loso", "max_folds": 1},
    "model": {"name": "baseline_cnn", "channels": [4, 8], "dropout": 0.1},
    "training": {"epochs": 3, "batch_size": 8, "lr": 0.003, "patience": 0, "scheduler": "cosine"},
    "seeds": [0],
}


def _recipe(**sections) -> dict:
    recipe = copy.deepcopy(TINY)
    recipe.update(copy.deepcopy(sections))
    return recipe


@pytest.fixture(scope="module")
def fsdd_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fsdd(tmp_path_factory.mktemp("fsdd"), speakers=4, takes=5)


def _predictions(seed_dir: Path) -> dict[str, list[float]]:
    with (seed_dir / "predictions.csv").open(newline="") as handle:
        return {row["item_id"]: [float(v) for k, v in row.items() if k.startswith("p_")] for row in csv.DictReader(handle)}


def test_each_sweep_trial_trains_on_its_own_features_and_its_models_reproduce_its_metrics(fsdd_root: Path, tmp_path: Path) -> None:
    from sonolab.train.export import load_model
    from sonolab.train.predict import evaluate_run, features_for_file

    run_dir = run(_recipe(sweep={"features.n_mels": [16, 24]}), root=fsdd_root, out_dir=tmp_path / "sweep", progress=False)
    summary = json.loads((run_dir / "summary.json").read_text())
    caches = set()
    for trial, n_mels in (("trial_00", 16), ("trial_01", 24)):
        trial_summary = json.loads((run_dir / trial / "summary.json").read_text())
        caches.add(trial_summary["feature_cache"])
        seed_dir = next((run_dir / trial).glob("*/seed_0"))
        model, meta = load_model(seed_dir)
        assert meta["feature_settings"]["n_mels"] == n_mels
        from sonolab.data.splits import load_splits

        test_ids = load_splits(run_dir / "splits.json").folds[0].test
        stored = _predictions(seed_dir)
        import torch

        for item_id in test_ids[:6]:
            features = features_for_file(fsdd_root / "recordings" / f"{item_id}.wav", meta["feature_settings_object"], meta["framing"])
            assert features.shape == (1, n_mels, 16)  # the model input of this trial, not the base recipe's
            with torch.no_grad():
                probabilities = torch.softmax(model(torch.from_numpy(features)[None]), dim=1)[0].numpy()
            np.testing.assert_allclose(probabilities, stored[item_id], atol=2e-3)
    assert len(caches) == 2 and all(Path(cache).is_dir() for cache in caches)
    # unselected trials show validation scores only
    assert summary["best_trial"] in ("trial_00", "trial_01")
    for trial in summary["trials"]:
        assert set(trial) == {"trial", "sweep_values", "val_monitor", "val_metrics", "selected"}
    evaluation = evaluate_run(run_dir, progress=False)
    assert evaluation["metrics"]["accuracy"]["mean"] == pytest.approx(summary["metrics"]["accuracy"]["mean"], abs=1e-9)


class _KillAtEpoch:
    """Wraps `engine.fit` so that the first fit is killed when epoch `epoch` starts (after epoch-1's checkpoint)."""

    def __init__(self, epoch: int) -> None:
        import lightning as L

        from sonolab.train import engine

        self.original, self.calls = engine.fit, 0
        target = epoch

        class Stop(L.Callback):
            def on_train_epoch_start(self, trainer, pl_module) -> None:
                if trainer.current_epoch == target:
                    raise KeyboardInterrupt("simulated kill")

        self.stop = Stop

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == 1:
            kwargs["extra_callbacks"] = [*kwargs.get("extra_callbacks", ()), self.stop()]
        return self.original(*args, **kwargs)


def _kill_then_resume(recipe: dict, root: Path, out: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    from sonolab.train import engine

    with monkeypatch.context() as patch:
        patch.setattr(engine, "fit", _KillAtEpoch(2))
        with pytest.raises(BaseException):
            run(recipe, root=root, out_dir=out, progress=False)
    assert not (out / "summary.json").exists()
    run(recipe, root=root, out_dir=out, resume=True, progress=False)
    environment = json.loads((out / "environment.json").read_text())
    assert len(environment["attempts"]) == 2  # one record per attempt, none overwritten
    return json.loads((out / "summary.json").read_text())


def test_classification_killed_mid_fold_and_resumed_equals_an_uninterrupted_run(fsdd_root: Path, tmp_path: Path,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = _recipe(augment={"spec_augment": {"enabled": True}})
    full = json.loads((run(recipe, root=fsdd_root, out_dir=tmp_path / "full", progress=False) / "summary.json").read_text())
    resumed = _kill_then_resume(recipe, fsdd_root, tmp_path / "killed", monkeypatch)
    for name in ("accuracy", "log_loss"):
        assert resumed["metrics"][name]["mean"] == pytest.approx(full["metrics"][name]["mean"], rel=1e-5)
    full_predictions = _predictions(next((tmp_path / "full").glob("*/seed_0")))
    resumed_predictions = _predictions(next((tmp_path / "killed").glob("*/seed_0")))
    for item_id, row in full_predictions.items():
        np.testing.assert_allclose(resumed_predictions[item_id], row, atol=1e-5)


def test_a_corrupt_marker_reruns_its_fold_and_resume_reloads_the_saved_splits(fsdd_root: Path, tmp_path: Path) -> None:
    recipe = _recipe()
    out = run(recipe, root=fsdd_root, out_dir=tmp_path / "run", progress=False)
    marker = next(out.glob("*/seed_0/metrics.json"))
    before = json.loads(marker.read_text())
    marker.write_text('{"fold": "trunc')  # a truncated completion marker
    splits_before = (out / "splits.json").read_text()
    run(recipe, root=fsdd_root, out_dir=out, resume=True, progress=False)
    assert marker.with_name("metrics.json.corrupt").is_file()
    after = json.loads(marker.read_text())  # the fold ran again and wrote a valid marker
    assert after["test"]["accuracy"] == pytest.approx(before["test"]["accuracy"])
    assert (out / "splits.json").read_text() == splits_before
    # a changed dataset is refused on resume instead of silently re-splitting
    (fsdd_root / "recordings" / "1_spk0_0.wav").rename(fsdd_root / "recordings" / "1_spk0_99.wav")
    try:
        with pytest.raises(ConfigError, match="dataset changed since the run started"):
            run(recipe, root=fsdd_root, out_dir=out, resume=True, progress=False)
    finally:
        (fsdd_root / "recordings" / "1_spk0_99.wav").rename(fsdd_root / "recordings" / "1_spk0_0.wav")


def test_validate_refuses_what_a_task_does_not_implement() -> None:
    with pytest.raises(ConfigError, match="augment.waveform is not implemented by the bimodal task"):
        validate_recipe({"task": "bimodal", "dataset": "merge", "augment": {"waveform": {"enabled": True}}})
