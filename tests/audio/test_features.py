"""Log-mel physics: the right band lights up, and the dB reference keeps or erases loudness as named."""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest

from sonolab.audio.features import (
    FeatureSettings,
    apply_reference_and_floor,
    compute_dataset_max_reference,
    log_mel,
    log_mel_re_unity,
)
from sonolab.errors import ConfigError


def _tone(frequency_hz: float, sample_rate_hz: int, amplitude: float, duration_s: float = 1.0) -> np.ndarray:
    time_s = np.arange(int(sample_rate_hz * duration_s)) / sample_rate_hz
    return (amplitude * np.sin(2 * np.pi * frequency_hz * time_s)).astype(np.float32)


def test_1khz_sine_peaks_in_the_mel_band_containing_1khz() -> None:
    settings = FeatureSettings(sample_rate_hz=16000, n_fft=1024, hop_length_samples=256, n_mels=64)
    features = log_mel(_tone(1000, 16000, 0.5)[None], 16000, settings)
    peak_band = int(np.argmax(features.mean(axis=1)))
    # The mel band edges: band k spans mel points k..k+2 of n_mels+2 points from fmin to fmax.
    edges_hz = librosa.mel_frequencies(n_mels=settings.n_mels + 2, fmin=0.0, fmax=8000.0)
    assert edges_hz[peak_band] < 1000.0 < edges_hz[peak_band + 2]
    centre_hz = edges_hz[peak_band + 1]
    assert abs(centre_hz - 1000.0) < (edges_hz[peak_band + 2] - edges_hz[peak_band]) / 2


@pytest.mark.parametrize("frequency_hz", [250.0, 3000.0])
def test_peak_band_follows_the_tone(frequency_hz: float) -> None:
    settings = FeatureSettings(sample_rate_hz=16000, n_mels=64)
    features = log_mel(_tone(frequency_hz, 16000, 0.5)[None], 16000, settings)
    edges_hz = librosa.mel_frequencies(n_mels=66, fmin=0.0, fmax=8000.0)
    peak_band = int(np.argmax(features.mean(axis=1)))
    assert edges_hz[peak_band] < frequency_hz < edges_hz[peak_band + 2]


def _peak_db_of_loud_and_quiet(settings: FeatureSettings) -> tuple[float, float]:
    loud = _tone(1000, 16000, 0.5)[None]
    quiet = _tone(1000, 16000, 0.05)[None]  # 20 dB below
    if settings.db_reference == "dataset_max":
        reference = compute_dataset_max_reference(
            [log_mel_re_unity(loud, 16000, settings), log_mel_re_unity(quiet, 16000, settings)], settings
        )
        settings = settings.with_updates(dataset_max_reference=reference)
    return float(log_mel(loud, 16000, settings).max()), float(log_mel(quiet, 16000, settings).max())


@pytest.mark.parametrize("db_reference", ["fixed", "dataset_max"])
def test_global_references_keep_a_20db_level_difference(db_reference: str) -> None:
    loud_db, quiet_db = _peak_db_of_loud_and_quiet(FeatureSettings(sample_rate_hz=16000, db_reference=db_reference))
    assert loud_db - quiet_db == pytest.approx(20.0, abs=0.05)


def test_per_clip_max_erases_the_level_difference() -> None:
    loud_db, quiet_db = _peak_db_of_loud_and_quiet(FeatureSettings(sample_rate_hz=16000, db_reference="per_clip_max"))
    assert loud_db == pytest.approx(0.0, abs=1e-4)
    assert quiet_db == pytest.approx(0.0, abs=1e-4)
    assert abs(loud_db - quiet_db) < 1.0  # the 20 dB difference is gone


def test_dataset_max_puts_the_training_maximum_at_0db() -> None:
    settings = FeatureSettings(sample_rate_hz=16000, db_reference="dataset_max")
    training = [log_mel_re_unity(_tone(500, 16000, a)[None], 16000, settings) for a in (0.1, 0.3)]
    reference = compute_dataset_max_reference(training, settings)
    frozen = settings.with_updates(dataset_max_reference=reference)
    assert max(float(apply_reference_and_floor(m, frozen).max()) for m in training) == pytest.approx(0.0, abs=1e-4)
    with pytest.raises(ConfigError):
        apply_reference_and_floor(training[0], settings)  # not frozen yet: refuse, do not guess


def test_floor_is_applied_per_item_and_equals_minus_top_db() -> None:
    settings = FeatureSettings(sample_rate_hz=16000, db_reference="fixed", top_db=60.0)
    silence_then_tone = np.concatenate([np.zeros(8000, np.float32), _tone(1000, 16000, 0.5, 0.5)])[None]
    features = log_mel(silence_then_tone, 16000, settings)
    assert settings.floor_db == -60.0
    assert float(features.min()) == -60.0
    assert float(features[:, :10].max()) == -60.0  # the silent start sits exactly on the floor


def test_settings_round_trip_and_fingerprint(tmp_path: Path) -> None:
    settings = FeatureSettings(sample_rate_hz=22050, n_mels=128, db_reference="dataset_max", dataset_max_reference=3.5)
    path = settings.save(tmp_path / "features.json")
    assert FeatureSettings.load(path) == settings
    assert settings.cache_fingerprint() == settings.with_updates(db_reference="fixed").cache_fingerprint()
    assert settings.cache_fingerprint() != settings.with_updates(n_mels=64).cache_fingerprint()


def test_invalid_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="db_reference"):
        FeatureSettings(db_reference="peak")
    with pytest.raises(ConfigError, match="max_frequency_hz"):
        FeatureSettings(sample_rate_hz=8000, max_frequency_hz=6000)
    with pytest.raises(ConfigError, match="min_frequency_hz"):
        FeatureSettings(sample_rate_hz=16000, min_frequency_hz=9000)
    with pytest.raises(ConfigError, match="mel bands receive no FFT bin"):
        FeatureSettings(sample_rate_hz=16000, n_fft=16, n_mels=128)
    with pytest.raises(ConfigError, match="unknown feature settings"):
        FeatureSettings.from_dict({"n_mel": 64})


def test_sample_rate_mismatch_is_an_error_not_a_silent_mislabel() -> None:
    with pytest.raises(ConfigError, match="target_sample_rate_hz"):
        log_mel(_tone(1000, 8000, 0.5)[None], 8000, FeatureSettings(sample_rate_hz=16000))
