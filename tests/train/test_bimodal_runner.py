"""The bimodal task through the one runner: a sweep whose augmentation and learning-rate schedule are applied,
and a run killed mid-fold and resumed that equals an uninterrupted one."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from merge_fixtures import make_merge_tree  # noqa: E402
from test_runner import _KillAtEpoch  # noqa: E402

from sonolab.train.runner import run  # noqa: E402

RECIPE = {
    "task": "bimodal", "dataset": "merge",
    "features": {"sample_rate_hz": 16000, "n_fft": 512, "hop_length_samples": 256, "n_mels": 24, "db_reference": "dataset_max"},
    "framing": {"target_frames": 24, "crop": "random", "eval_crop": "middle"},
    "split": {"strategy": "official"},
    "model": {"name": "baseline_cnn", "channels": [4, 8], "dropout": 0.1},
    "training": {"epochs": 3, "batch_size": 16, "lr": 4e-3, "patience": 0, "weight_decay": 0.0},
    "seeds": [0],
    "bimodal": {"modalities": ["audio"], "hidden_dim": 16, "dropout": 0.1},
}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def merge_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_merge_tree(tmp_path_factory.mktemp("merge") / "merge", num_songs=48, duration_s=0.5, seed=3).root


def _lr_per_epoch(seed_dir: Path) -> list[float]:
    """The audio tower's learning rate as Lightning's LearningRateMonitor logged it, epoch by epoch."""
    import csv

    with (seed_dir / "logs" / "version_0" / "metrics.csv").open(newline="") as handle:
        return [float(row["lr-AdamW/audio"]) for row in csv.DictReader(handle) if row.get("lr-AdamW/audio")]


def test_bimodal_sweep_applies_augmentation_and_the_schedule(merge_root: Path, tmp_path: Path) -> None:
    from sonolab.train.bimodal.data import SongDataset

    recipe = copy.deepcopy(RECIPE)
    recipe["training"]["scheduler"] = "cosine"
    recipe["augment"] = {"spec_augment": {"enabled": True, "time_masks": 2, "max_time_mask_frames": 8,
                                          "frequency_masks": 2, "max_frequency_mask_bins": 6}}
    recipe["sweep"] = {"augment.spec_augment.enabled": [False, True]}
    seen: list[SongDataset] = []
    original_init = SongDataset.__init__

    def spy(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        seen.append(self)

    SongDataset.__init__ = spy
    try:
        out = run(recipe, root=merge_root, out_dir=tmp_path / "sweep", progress=False)
    finally:
        SongDataset.__init__ = original_init
    summary = json.loads((out / "summary.json").read_text())
    assert {t["trial"] for t in summary["trials"]} == {"trial_00", "trial_01"}
    # the schedule reaches the optimiser: the cosine-annealed learning rate falls every epoch
    for trial in ("trial_00", "trial_01"):
        rates = _lr_per_epoch(next((out / trial).glob("*/seed_0")))
        assert len(rates) >= 3 and all(b < a for a, b in zip(rates, rates[1:]))
    # the augmentation reaches the training data of the trial that enables it, and only its training partition
    masked = [d for d in seen if d.spec_augment is not None]
    assert masked and all(d.crop == "random" for d in masked)
    sample = masked[0][(0, 1)]["mel"][0].numpy()
    floor = masked[0].floor_db
    clean = SongDataset(masked[0].table, masked[0].target_frames, floor, masked[0].crop, masked[0].seed)[(0, 1)]["mel"][0].numpy()
    assert np.sum(sample == floor) > np.sum(clean == floor)  # masks filled with the floor value


def test_bimodal_killed_mid_fold_and_resumed_equals_an_uninterrupted_run(merge_root: Path, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from sonolab.train import engine

    full = json.loads((run(RECIPE, root=merge_root, out_dir=tmp_path / "full", progress=False) / "summary.json").read_text())
    out = tmp_path / "killed"
    with monkeypatch.context() as patch:
        patch.setattr(engine, "fit", _KillAtEpoch(2))
        with pytest.raises(BaseException):
            run(RECIPE, root=merge_root, out_dir=out, progress=False)
    splits = (out / "splits.json").read_text()
    resumed = json.loads((run(RECIPE, root=merge_root, out_dir=out, resume=True, progress=False) / "summary.json").read_text())
    assert (out / "splits.json").read_text() == splits  # reloaded, not regenerated
    # the quadrant baseline (audio functionals + linear SVM) ran on the same folds, beside the model's quadrant scores
    baseline = full["baseline"]
    assert baseline["folder"] == "baseline" and (tmp_path / "full" / "baseline").is_dir()
    assert {"accuracy", "macro_f1"} <= set(baseline["metrics"]) and "macro_f1" in full["metrics"]
    assert [row["fold"] for row in baseline["per_fold"]] == [row["fold"] for row in full["per_fold"]]
    for name in ("mean_ccc", "arousal_mae", "accuracy"):
        assert resumed["metrics"][name]["mean"] == pytest.approx(full["metrics"][name]["mean"], rel=1e-5, abs=1e-7)


def test_the_baseline_is_not_run_on_lyrics_files_and_says_why(tmp_path: Path) -> None:
    from sonolab.data.items import DatasetIndex, Item
    from sonolab.train.runner import baseline_skip_reason

    lyrics = DatasetIndex("merge_lyrics", tmp_path, [Item("s1", tmp_path / "Q1" / "s1.txt", "Q1", "a")], ["Q1"])
    audio = DatasetIndex("merge", tmp_path, [Item("s1", tmp_path / "Q1" / "s1.mp3", "Q1", "a")], ["Q1"])
    assert "lyrics files" in baseline_skip_reason(lyrics) and baseline_skip_reason(audio) is None
