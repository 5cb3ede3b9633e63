"""Augmentation settings that point at missing files fail with one clear error naming the file."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from sonolab.audio.augment import AugmentSettings, WaveformAugmenter
from sonolab.errors import ConfigError


def test_missing_impulse_response_is_a_config_error_naming_it(tmp_path):
    missing = tmp_path / "rooms"
    with pytest.raises(ConfigError, match="rooms: impulse response not found"):
        WaveformAugmenter(AugmentSettings(impulse_response_paths=(str(missing),)), seed=0)
    missing.mkdir()
    with pytest.raises(ConfigError, match="impulse response not found"):  # a folder without audio
        WaveformAugmenter(AugmentSettings(impulse_response_paths=(str(missing),)), seed=0)
    impulse = np.zeros(800, dtype=np.float32)
    impulse[0] = 1.0
    sf.write(str(missing / "ir.wav"), impulse, 8000)
    augmenter = WaveformAugmenter(AugmentSettings(reverb_probability=1.0, noise_probability=0, pitch_probability=0,
                                                  stretch_probability=0, gain_probability=0,
                                                  impulse_response_paths=(str(missing),)), seed=0)
    audio = np.random.default_rng(0).standard_normal((1, 4000)).astype(np.float32) * 0.1
    out = augmenter(audio, 8000)
    assert out.shape == audio.shape and np.isfinite(out).all()  # an existing IR folder is accepted and used
