"""Fitting to a length: named crops, floor padding (never 0 dB), reported padding."""

from __future__ import annotations

import numpy as np
import pytest

from sonolab.audio.framing import fit_frames, fit_samples
from sonolab.errors import ConfigError


def _ramp(frames: int, n_mels: int = 4) -> np.ndarray:
    return np.tile(np.arange(frames, dtype=np.float32), (n_mels, 1))


def test_middle_crop_of_a_ramp_returns_the_middle() -> None:
    fitted = fit_frames(_ramp(100), 20, floor_db=-80.0, strategy="middle")
    np.testing.assert_array_equal(fitted.features[0], np.arange(40, 60, dtype=np.float32))
    assert fitted.start_frame == 40 and fitted.padded_frames == 0


def test_first_crop_keeps_the_start() -> None:
    fitted = fit_frames(_ramp(100), 20, floor_db=-80.0, strategy="first")
    np.testing.assert_array_equal(fitted.features[0], np.arange(20, dtype=np.float32))


def test_random_crop_is_seeded_and_in_range() -> None:
    first = fit_frames(_ramp(100), 20, -80.0, "random", np.random.default_rng(7))
    second = fit_frames(_ramp(100), 20, -80.0, "random", np.random.default_rng(7))
    assert first.start_frame == second.start_frame
    assert 0 <= first.start_frame <= 80
    np.testing.assert_array_equal(first.features[0], np.arange(first.start_frame, first.start_frame + 20))
    with pytest.raises(ConfigError, match="seeded"):
        fit_frames(_ramp(100), 20, -80.0, "random")


def test_max_energy_crop_finds_the_loud_part() -> None:
    features = np.full((8, 200), -80.0, dtype=np.float32)
    features[:, 130:150] = -10.0
    fitted = fit_frames(features, 20, -80.0, "max_energy")
    assert fitted.start_frame == 130
    assert float(fitted.features.min()) == -10.0


def test_padded_frames_equal_the_floor_exactly_and_are_reported() -> None:
    features = np.zeros((4, 30), dtype=np.float32) - 12.5
    fitted = fit_frames(features, 50, floor_db=-80.0)
    assert fitted.features.shape == (4, 50)
    assert fitted.padded_frames == 20
    assert np.all(fitted.features[:, 30:] == -80.0)
    assert not np.any(fitted.features == 0.0)  # never 0 dB padding
    np.testing.assert_array_equal(fitted.features[:, :30], features)


def test_unknown_strategy_is_refused() -> None:
    with pytest.raises(ConfigError, match="crop strategy"):
        fit_frames(_ramp(100), 20, -80.0, "centre")


def test_waveform_padding_is_zeros_and_middle_crop() -> None:
    audio = np.arange(10, dtype=np.float32)[None]
    padded = fit_samples(audio, 16)
    assert padded.padded_samples == 6 and padded.audio.shape == (1, 16)
    np.testing.assert_array_equal(padded.audio[0, 10:], 0.0)
    cropped = fit_samples(np.arange(100, dtype=np.float32)[None], 10, "middle")
    np.testing.assert_array_equal(cropped.audio[0], np.arange(45, 55))
