"""On-the-fly waveform augmentation in training: each item's draw depends only on (seed, epoch, item), also
in data-loader worker processes; the recipe switch trains end to end through `sonolab train`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from generated import make_fsdd, tone_or_noise
from torch.utils.data import DataLoader
from typer.testing import CliRunner

from sonolab.audio.features import FeatureSettings, apply_reference_and_floor, log_mel_re_unity
from sonolab.cli import app
from sonolab.train.data import EpochSampler, WaveformAugmentedDataset
from sonolab.train.engine import loader_workers

SETTINGS = FeatureSettings(sample_rate_hz=8000, n_fft=256, hop_length_samples=128, n_mels=24)
AUGMENT = {"enabled": True, "noise_probability": 1.0, "min_snr_db": 10.0, "max_snr_db": 20.0, "pitch_probability": 0.0,
           "stretch_probability": 0.0, "gain_probability": 1.0, "reverb_probability": 0.0}


def _dataset() -> WaveformAugmentedDataset:
    rng = np.random.default_rng(0)
    waveforms = [tone_or_noise(0, rng, 8000, 0.4) for _ in range(6)]
    return WaveformAugmentedDataset(waveforms, [0] * 6, SETTINGS, AUGMENT, target_frames=24, crop="middle", seed=5)


def test_items_are_augmented_reproducibly_per_epoch_and_in_worker_processes() -> None:
    dataset = _dataset()
    clean = apply_reference_and_floor(log_mel_re_unity(dataset.waveforms[0], 8000, SETTINGS), SETTINGS)
    first, again, next_epoch = dataset[(0, 0)][0], dataset[(0, 0)][0], dataset[(0, 1)][0]
    assert torch.equal(first, again)  # the same (seed, epoch, item) draws the same augmentation
    assert not torch.equal(first, next_epoch)  # another epoch draws another one
    assert first.shape == (1, 24, 24) and not np.allclose(first[0].numpy(), clean[:, :24], atol=1.0)  # noise was added

    sampler = EpochSampler(dataset.labels, seed=5)
    sampler.set_epoch(3)
    in_process = torch.cat([batch for batch, _ in DataLoader(dataset, batch_size=3, sampler=sampler, num_workers=0)])
    in_workers = torch.cat([batch for batch, _ in DataLoader(dataset, batch_size=3, sampler=sampler, num_workers=2)])
    assert torch.equal(in_process, in_workers)  # whichever worker computes an item, it is the same item
    assert loader_workers(dataset, "auto") >= 1 and loader_workers(dataset, 0) == 0


def test_recipe_with_waveform_augmentation_trains_through_the_cli(tmp_path: Path) -> None:
    root = make_fsdd(tmp_path / "fsdd", speakers=4, takes=4)
    recipe = Path(__file__).resolve().parents[2] / "recipes" / "fsdd_cnn.yaml"
    sets = ["training.epochs=2", "training.batch_size=8", "training.patience=0", "split.max_folds=1", "features.n_mels=24",
            "model.channels=[4, 8]", "training.num_workers=1", "augment.waveform.enabled=true",
            "augment.waveform.pitch_probability=0.5", "augment.waveform.reverb_probability=0.5"]
    result = CliRunner().invoke(app, ["train", str(recipe), "--root", str(root), "--out", str(tmp_path / "run"), "--no-progress",
                                      *[part for value in sets for part in ("--set", value)]], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["metrics"]["accuracy"]["n"] == 1
    resolved = (tmp_path / "run" / "recipe.yaml").read_text()
    assert "waveform:" in resolved and "pitch_probability: 0.5" in resolved  # the run folder says what was augmented
