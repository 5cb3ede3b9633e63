"""The batched torch log-mel equals librosa's (the reference loop) within 1e-3 dB, on generated audio."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sonolab.audio.fast_features import analysis_window, log_mel_re_unity_batch, mel_filter_bank
from sonolab.audio.features import (
    AMIN_POWER,
    FeatureSettings,
    frames_for_samples,
    log_mel_re_unity,
    log_mel_re_unity_batch_librosa,
)

TOLERANCE_DB = 1e-3


def _signals(sample_rate_hz: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A sine, a chirp, white noise and a quiet clip, all of different lengths (none a multiple of the hop)."""
    def time_s(duration_s: float) -> np.ndarray:
        return np.arange(int(duration_s * sample_rate_hz)) / sample_rate_hz

    nyquist_hz = sample_rate_hz / 2
    t_sine, t_chirp, t_quiet = time_s(0.61), time_s(0.47), time_s(0.33)
    sine = 0.5 * np.sin(2 * np.pi * 440.0 * t_sine)
    # Linear chirp 50 Hz -> 0.9 Nyquist over the clip.
    sweep_rate = (0.9 * nyquist_hz - 50.0) / t_chirp[-1]
    chirp = 0.3 * np.sin(2 * np.pi * (50.0 * t_chirp + 0.5 * sweep_rate * t_chirp**2))
    noise = 0.1 * rng.standard_normal(int(0.52 * sample_rate_hz) + 37)
    quiet = 1e-3 * rng.standard_normal(t_quiet.size) + 1e-4 * np.sin(2 * np.pi * 1000.0 * t_quiet)  # about -60 dBFS
    short = 0.2 * rng.standard_normal(300)  # shorter than n_fft: librosa still gives 1 + n // hop frames
    return [signal.astype(np.float32) for signal in (sine, chirp, noise, quiet, short)]


def _assert_close_above_floor(fast: np.ndarray, reference: np.ndarray, label: str) -> None:
    """Within TOLERANCE_DB wherever both lie above the amin floor; both agree on which bins are floored."""
    assert fast.shape == reference.shape, f"{label}: shape {fast.shape} != {reference.shape}"
    assert fast.dtype == np.float32
    amin_floor_db = 10.0 * np.log10(AMIN_POWER)
    above = (fast > amin_floor_db + 1.0) & (reference > amin_floor_db + 1.0)
    # A clean chirp leaves many bins below amin; a quarter of the matrix is still thousands of bins.
    assert above.mean() > 0.25, f"{label}: only {above.mean():.0%} of bins above the floor, test is too weak"
    error_db = np.abs(fast - reference)[above]
    assert error_db.max() <= TOLERANCE_DB, f"{label}: max error {error_db.max():.2e} dB"
    floored_disagreement = np.mean((fast <= amin_floor_db + 1.0) != (reference <= amin_floor_db + 1.0))
    assert floored_disagreement < 0.01, f"{label}: floor disagreement on {floored_disagreement:.1%} of bins"


@pytest.mark.filterwarnings("ignore:n_fft=.*is too large")
@pytest.mark.parametrize("sample_rate_hz", [8000, 16000, 22050, 44100])
@pytest.mark.parametrize("n_mels", [64, 128])
@pytest.mark.parametrize("hop_length_samples", [256, 512])
def test_batch_equals_librosa_within_1e_3_db(sample_rate_hz: int, n_mels: int, hop_length_samples: int) -> None:
    settings = FeatureSettings(sample_rate_hz=sample_rate_hz, n_mels=n_mels, hop_length_samples=hop_length_samples)
    signals = _signals(sample_rate_hz, np.random.default_rng(sample_rate_hz + n_mels + hop_length_samples))
    fast = log_mel_re_unity_batch(signals, settings, batch_size=3)  # several groups of different lengths
    reference = log_mel_re_unity_batch_librosa(signals, settings)
    assert len(fast) == len(signals)
    for name, signal, fast_db, reference_db in zip(("sine", "chirp", "noise", "quiet", "short"), signals, fast, reference):
        assert fast_db.shape == (n_mels, frames_for_samples(signal.size, settings))
        _assert_close_above_floor(fast_db, reference_db, f"{name} @ {settings}")


@pytest.mark.filterwarnings("ignore:n_fft=.*is too large")
@pytest.mark.parametrize(
    "changes",
    [
        {"win_length_samples": 400, "n_fft": 512, "hop_length_samples": 160},
        {"min_frequency_hz": 125.0, "max_frequency_hz": 7000.0},
        {"power": 1.0},
        {"n_fft": 2048, "hop_length_samples": 512, "sample_rate_hz": 44100, "n_mels": 128},
    ],
)
def test_other_settings_equal_librosa(changes: dict) -> None:
    settings = FeatureSettings().with_updates(**changes)
    signals = _signals(settings.sample_rate_hz, np.random.default_rng(7))
    for fast_db, reference_db in zip(
        log_mel_re_unity_batch(signals, settings), log_mel_re_unity_batch_librosa(signals, settings)
    ):
        _assert_close_above_floor(fast_db, reference_db, str(changes))


def test_batch_padding_does_not_change_any_item() -> None:
    """Zero-padding to the longest clip is exact: each item equals its own single-item result."""
    settings = FeatureSettings(sample_rate_hz=16000)
    rng = np.random.default_rng(3)
    signals = [(0.2 * rng.standard_normal(n)).astype(np.float32) for n in (16000, 700, 5003, 12345, 256, 9000)]
    batched = log_mel_re_unity_batch(signals, settings, batch_size=6)
    for signal, batched_db in zip(signals, batched):
        alone = log_mel_re_unity_batch([signal], settings)[0]
        np.testing.assert_allclose(batched_db, alone, atol=1e-5)


def test_tone_peaks_in_its_mel_band_and_follows_level() -> None:
    """Physics: a 1 kHz tone peaks in the band whose centre is nearest 1 kHz; -20 dB amplitude is -20 dB."""
    settings = FeatureSettings(sample_rate_hz=16000, n_mels=64)
    t = np.arange(16000) / 16000
    tone = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    loud, soft = log_mel_re_unity_batch([tone, 0.1 * tone], settings)
    centres_hz = mel_filter_bank(settings).numpy().argmax(axis=1) * settings.sample_rate_hz / settings.n_fft
    peak_band = int(np.argmax(loud[:, 10:-10].mean(axis=1)))
    assert abs(centres_hz[peak_band] - 1000.0) <= 2 * settings.sample_rate_hz / settings.n_fft
    middle = slice(10, -10)
    assert np.allclose(loud[peak_band, middle] - soft[peak_band, middle], 20.0, atol=1e-3)


def test_channels_mono_mean_and_multichannel() -> None:
    rng = np.random.default_rng(5)
    stereo = (0.1 * rng.standard_normal((2, 8000))).astype(np.float32)
    mono_settings = FeatureSettings(sample_rate_hz=8000)
    mono_db = log_mel_re_unity_batch([stereo], mono_settings)[0]
    _assert_close_above_floor(mono_db, log_mel_re_unity(stereo, 8000, mono_settings), "stereo -> mono")
    multi_settings = mono_settings.with_updates(mono=False)
    multi_db = log_mel_re_unity_batch([stereo, stereo[0]], multi_settings)
    assert multi_db[0].shape == (2, 64, 1 + 8000 // 256)
    assert multi_db[1].shape == (64, 1 + 8000 // 256)
    _assert_close_above_floor(multi_db[0], log_mel_re_unity(stereo, 8000, multi_settings), "stereo channels")


def test_filter_bank_and_window_cached_per_settings_and_threads_untouched() -> None:
    threads_before = torch.get_num_threads()
    small, large = FeatureSettings(n_mels=64), FeatureSettings(n_mels=128)
    assert mel_filter_bank(small) is mel_filter_bank(small)
    assert mel_filter_bank(large).shape == (128, 1 + large.n_fft // 2)
    assert mel_filter_bank(small).shape == (64, 1 + small.n_fft // 2)
    assert analysis_window(small) is analysis_window(FeatureSettings(n_mels=64))
    log_mel_re_unity_batch([np.zeros(4000, dtype=np.float32)], small)
    assert torch.get_num_threads() == threads_before


def test_silence_sits_at_the_amin_floor_and_bad_input_is_named() -> None:
    settings = FeatureSettings(sample_rate_hz=8000)
    silent_db = log_mel_re_unity_batch([np.zeros(4000, dtype=np.float32)], settings)[0]
    assert np.allclose(silent_db, 10.0 * np.log10(AMIN_POWER))
    with pytest.raises(ValueError, match="waveform 1 is empty"):
        log_mel_re_unity_batch([np.ones(10, dtype=np.float32), np.zeros(0, dtype=np.float32)], settings)
    with pytest.raises(ValueError, match="waveform 0 contains NaN"):
        log_mel_re_unity_batch([np.array([0.0, np.nan], dtype=np.float32)], settings)
    with pytest.raises(ValueError, match="batch_size"):
        log_mel_re_unity_batch([np.ones(10, dtype=np.float32)], settings, batch_size=0)
