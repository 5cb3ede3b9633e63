"""Data-parallel training on CPU (gloo): two processes, one run folder, every epoch's augmentation draws shared
out between the ranks, and reported test metrics equal to a re-score of the saved model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from generated import make_fsdd

from sonolab.train.data import EpochSampler

RECIPE = {
    "task": "classification", "dataset": "fsdd",
    "features": {"sample_rate_hz": 8000, "n_fft": 256, "hop_length_samples": 128, "n_mels": 24, "db_reference": "dataset_max"},
    "framing": {"target_frames": 16, "crop": "random", "eval_crop": "middle"},
    "split": {"strategy": "loso", "max_folds": 1},
    "model": {"name": "baseline_cnn", "channels": [4, 8], "dropout": 0.1},
    "training": {"epochs": 3, "batch_size": 8, "lr": 0.003, "patience": 2, "monitor": "val_loss"},
    "seeds": [0],
}


def test_training_sampler_shards_each_epoch_between_ranks_and_evaluation_is_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    labels = [0, 1] * 11  # 22 items over 2 ranks
    shards = {}
    for rank in (0, 1):
        monkeypatch.setattr(EpochSampler, "_rank_and_world", staticmethod(lambda rank=rank: (rank, 2)))
        sampler = EpochSampler(labels, seed=1)
        sampler.set_epoch(3)
        shards[rank] = [index for index, epoch in sampler]
        assert len(sampler) == len(shards[rank]) == 11
        sampler.set_epoch(4)  # the epoch reaches the sampler itself: another epoch, another order
        assert [index for index, _ in sampler] != shards[rank]
        evaluation = EpochSampler(labels, seed=1, shuffle=False)
        assert [index for index, _ in evaluation] == list(range(22))  # every rank validates on the whole partition
    assert sorted(shards[0] + shards[1]) == list(range(22))


def test_two_process_cpu_ddp_run_reports_what_its_saved_model_scores(tmp_path: Path) -> None:
    root = make_fsdd(tmp_path / "fsdd", speakers=4, takes=5)
    recipe_path = tmp_path / "tiny.yaml"
    recipe_path.write_text(yaml.safe_dump(RECIPE))
    out = tmp_path / "run"
    command = [sys.executable, "-m", "sonolab", "train", str(recipe_path), "--root", str(root), "--out", str(out), "--no-progress",
               "--set", "training.strategy=ddp", "--set", "training.devices=2", "--set", "training.accelerator=cpu"]
    environment = {key: value for key, value in os.environ.items() if key not in ("LOCAL_RANK", "NODE_RANK", "RANK", "WORLD_SIZE")}
    result = subprocess.run(command, capture_output=True, text=True, timeout=500, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "already holds a run" not in result.stderr
    assert "GLOBAL_RANK: 1" in result.stderr  # a second process really trained
    summary = json.loads((out / "summary.json").read_text())
    seed_dir = next(out.glob("*/seed_0"))
    rows = (seed_dir / "logs" / "version_0" / "metrics.csv").read_text().splitlines()
    last_step = max(int(line.split(",")[1]) for line in rows[1:] if line.split(",")[1])
    train_items = json.loads((seed_dir / "metrics.json").read_text())["counts"]["train"]
    assert last_step + 1 == 3 * -(-(-(-train_items // 2)) // 8)  # each rank stepped through its half, 3 epochs
    from sonolab.train.predict import evaluate_run

    evaluation = evaluate_run(out, progress=False)
    for name in ("accuracy", "balanced_accuracy", "log_loss"):
        assert evaluation["metrics"][name]["mean"] == pytest.approx(summary["metrics"][name]["mean"], abs=1e-4)
