"""BS.1770-4 loudness and true peak: agree with pyloudnorm / scipy's 4x resampler, identical in blocks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from sonolab.audio.loudness import LoudnessMeter, TruePeakMeter, integrated_loudness_lufs, true_peak_dbtp


def _noise(seed: int, seconds: float = 6.0, sample_rate_hz: int = 44100) -> np.ndarray:
    rng = np.random.default_rng(seed)
    audio = signal.lfilter([1.0], [1.0, -0.95], rng.standard_normal((2, int(seconds * sample_rate_hz))), axis=-1)
    audio[:, : sample_rate_hz] *= 0.01  # a quiet second, below the relative gate
    return 0.5 * audio / np.max(np.abs(audio))


@pytest.mark.parametrize("sample_rate_hz", [44100, 48000])
def test_integrated_loudness_equals_pyloudnorm_and_is_the_same_in_blocks(sample_rate_hz: int) -> None:
    import pyloudnorm

    audio = _noise(0, sample_rate_hz=sample_rate_hz)
    expected = pyloudnorm.Meter(sample_rate_hz).integrated_loudness(audio.T)
    assert integrated_loudness_lufs(audio, sample_rate_hz) == pytest.approx(expected, abs=0.01)
    meter = LoudnessMeter(sample_rate_hz, 2)
    for start in range(0, audio.shape[1], 12345):
        meter.push(audio[:, start : start + 12345])
    assert meter.integrated_lufs() == pytest.approx(integrated_loudness_lufs(audio, sample_rate_hz), abs=1e-9)


def test_loudness_at_a_gain_equals_the_loudness_of_the_scaled_signal() -> None:
    audio = _noise(3)
    meter = LoudnessMeter(44100, 2)
    meter.push(audio)
    for gain_db in (-50.0, -30.0, -3.0, 0.0, 6.0):
        gain = 10 ** (gain_db / 20)
        assert meter.integrated_lufs(gain) == pytest.approx(integrated_loudness_lufs(gain * audio, 44100), abs=1e-9)
    # at -50 dB the absolute gate (-70 LUFS) drops blocks of the quiet second: not a plain -50 LU shift
    assert meter.integrated_lufs(10 ** (-50 / 20)) > meter.integrated_lufs() - 50.0 + 0.03


def test_too_short_or_silent_audio_has_no_loudness() -> None:
    assert integrated_loudness_lufs(np.ones((1, 1000)), 44100) is None
    assert integrated_loudness_lufs(np.zeros((2, 44100)), 44100) is None


def test_true_peak_finds_the_peak_between_samples() -> None:
    # a sine at a quarter of the sample rate, sampled 45 degrees off its crests: every sample is at
    # 0.707 (-3.01 dBFS) while the waveform reaches 1.0 (0 dBTP) between them; a sample-peak meter misses 3 dB
    n = np.arange(44100)
    fade = np.minimum(1.0, np.minimum(n, n[::-1]) / 2000)  # no abrupt edges (they ring)
    tone = (np.sin(2 * np.pi * n / 4 + np.pi / 4) * fade)[None, :]
    assert 20 * np.log10(np.max(np.abs(tone))) == pytest.approx(-3.01, abs=0.01)
    assert true_peak_dbtp(tone) == pytest.approx(0.0, abs=0.05)


def test_true_peak_equals_scipy_4x_oversampling_and_is_the_same_in_blocks() -> None:
    rng = np.random.default_rng(1)
    audio = np.tanh(3 * rng.standard_normal((2, 20000)))
    expected = 20 * np.log10(np.max(np.abs(signal.resample_poly(audio, 4, 1, axis=-1))))
    assert true_peak_dbtp(audio) == pytest.approx(expected, abs=1e-6)
    assert true_peak_dbtp(audio) > 20 * np.log10(np.max(np.abs(audio))) + 0.5
    for block in (7, 999):  # shorter and longer than the interpolator's reach (20 samples)
        meter = TruePeakMeter(2)
        for start in range(0, audio.shape[1], block):
            meter.push(audio[:, start : start + block])
        meter.finish()
        assert meter.dbtp == pytest.approx(true_peak_dbtp(audio), abs=1e-12)
