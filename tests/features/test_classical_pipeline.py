"""The path a classical-head task takes: kind cache -> clip vectors -> group normalisation -> head per
outer leave-one-speaker-out fold -> saved head -> the same predictions after loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from sonolab.data.cache import build_feature_cache, cache_dir_for, open_feature_cache
from sonolab.data.group_normalisation import per_group_standardise
from sonolab.data.registry import load_dataset
from sonolab.features import functionals
from sonolab.models.classical import ClassicalHeadSettings, fit_classical_head, load_classical_head

EMOTION_PITCH_HZ = {"W": 320.0, "N": 180.0, "T": 120.0}  # anger high, neutral mid, sadness low
SPEAKER = {"03": (1.0, 0.5), "08": (1.15, 0.1), "09": (0.9, 0.3), "10": (1.05, 0.05)}  # (pitch factor, gain)


def _emodb_like(root: Path) -> Path:
    rng = np.random.default_rng(0)
    rate_hz = 16000
    time_s = np.arange(int(0.4 * rate_hz)) / rate_hz
    for speaker, (factor, gain) in SPEAKER.items():
        for emotion, pitch_hz in EMOTION_PITCH_HZ.items():
            for text in ("a01", "a02", "b01"):
                f0 = pitch_hz * factor * rng.uniform(0.95, 1.05)
                voice = sum(np.sin(2 * np.pi * k * f0 * time_s) / k for k in range(1, 6))
                signal = gain * voice / 3 + 0.01 * rng.standard_normal(time_s.size)
                path = root / "wav" / f"{speaker}{text}{emotion}a.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(str(path), signal.astype(np.float32), rate_hz)
    return root


def test_leave_one_speaker_out_with_group_normalisation_and_saved_heads(tmp_path):
    index = load_dataset("emodb", _emodb_like(tmp_path / "emodb"))
    settings = functionals.Settings(f0=False)
    cache_dir = cache_dir_for(tmp_path / "caches", settings)
    build_feature_cache(index.items, settings, cache_dir, workers=1, progress=False)
    cache = open_feature_cache(cache_dir, settings)
    ids = [item.item_id for item in index.items]
    features = cache.clip_matrix(ids)
    labels = np.array([item.label for item in index.items])
    groups = np.array([item.group for item in index.items])
    correct = 0
    for test_group in np.unique(groups):
        normalised = per_group_standardise(features, groups, test_groups=[test_group])
        assert normalised.transductive
        train, test = groups != test_group, groups == test_group
        head = fit_classical_head(normalised.features[train], labels[train], groups[train], "linear_svm",
                                  ClassicalHeadSettings(c_grid=(0.01, 1.0)))
        loaded = load_classical_head(head.save(tmp_path / "heads" / str(test_group)))
        np.testing.assert_array_equal(loaded.predict(normalised.features[test]), head.predict(normalised.features[test]))
        correct += int((loaded.predict(normalised.features[test]) == labels[test]).sum())
    assert correct / len(labels) > 0.8  # pitch separates the emotions once each speaker is normalised
