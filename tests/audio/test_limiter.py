"""The look-ahead true-peak limiter: holds the ceiling, transparent below it, identical in blocks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from sonolab.audio.limiter import PreparedSignal, TruePeakLimiter, limit_true_peak
from sonolab.audio.loudness import true_peak_dbtp

SAMPLE_RATE_HZ = 44100


def _loud(seed: int = 0, seconds: float = 3.0) -> np.ndarray:
    """Dense stereo noise with sample peaks at +3 dBFS (needs several dB of limiting)."""
    rng = np.random.default_rng(seed)
    audio = signal.lfilter([1.0], [1.0, -0.9], rng.standard_normal((2, int(seconds * SAMPLE_RATE_HZ))), axis=-1)
    return 10 ** (3 / 20) * audio / np.max(np.abs(audio))


def _independent_true_peak_dbtp(audio: np.ndarray) -> float:
    return float(20 * np.log10(np.max(np.abs(signal.resample_poly(audio, 4, 1, axis=-1)))))


@pytest.mark.parametrize("ceiling_dbtp", [-1.0, -3.0])
def test_output_true_peak_stays_under_the_ceiling_and_the_reduction_is_reported(ceiling_dbtp: float) -> None:
    audio = _loud()
    output, stats = limit_true_peak(audio, SAMPLE_RATE_HZ, ceiling_dbtp)
    assert output.shape == audio.shape
    assert _independent_true_peak_dbtp(output) <= ceiling_dbtp + 1e-6
    assert true_peak_dbtp(audio) - ceiling_dbtp <= stats.max_reduction_db <= true_peak_dbtp(audio) - ceiling_dbtp + 0.2
    assert 0 < stats.limited_samples <= audio.shape[1] and stats.total_samples == audio.shape[1]


def test_material_below_the_ceiling_passes_unchanged() -> None:
    audio = 10 ** (-3 / 20) * _loud(1) / 10 ** (3 / 20) * 0.5  # true peak well under -1 dBTP
    assert true_peak_dbtp(audio) < -1.5
    output, stats = limit_true_peak(audio, SAMPLE_RATE_HZ)
    np.testing.assert_array_equal(output, audio)
    assert stats.max_reduction_db == 0.0 and stats.limited_samples == 0


def test_a_single_peak_is_reduced_ahead_of_time_and_released_afterwards() -> None:
    audio = np.zeros((1, SAMPLE_RATE_HZ))
    audio[0] = 0.1 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE_HZ) / SAMPLE_RATE_HZ)
    click = SAMPLE_RATE_HZ // 2
    audio[0, click] = 1.5
    output, stats = limit_true_peak(audio, SAMPLE_RATE_HZ, lookahead_s=0.002, release_s=0.02)
    gain = np.ones_like(output[0])
    nonzero = np.abs(audio[0]) > 1e-6
    gain[nonzero] = output[0, nonzero] / audio[0, nonzero]
    assert _independent_true_peak_dbtp(output) <= -1.0 + 1e-6
    assert gain[click - 60] < 0.999  # the look-ahead lowers the gain before the click
    np.testing.assert_array_equal(output[0, : click - 200], audio[0, : click - 200])  # untouched before the look-ahead
    np.testing.assert_allclose(gain[click + SAMPLE_RATE_HZ // 4 :][nonzero[click + SAMPLE_RATE_HZ // 4 :]], 1.0, atol=1e-3)  # released: 250 ms is 12 release time constants
    assert stats.limited_s(SAMPLE_RATE_HZ) < 0.3


@pytest.mark.parametrize("block_samples", [1, 777, 4096])
def test_block_by_block_output_is_identical_to_one_call(block_samples: int) -> None:
    audio = _loud(2, seconds=0.5 if block_samples == 1 else 2.0)
    expected, expected_stats = limit_true_peak(audio, SAMPLE_RATE_HZ)
    limiter = TruePeakLimiter(SAMPLE_RATE_HZ, 2)
    parts = [limiter.push(audio[:, start : start + block_samples]) for start in range(0, audio.shape[1], block_samples)]
    parts.append(limiter.flush())
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), expected)
    assert limiter.stats == expected_stats


def test_input_gain_and_a_prepared_signal_reused_at_several_gains_give_the_streamed_output() -> None:
    audio = _loud(3, seconds=1.5) * 10 ** (-6 / 20)  # peaks at -3 dBFS: limited only at the higher gains
    prepared = PreparedSignal(audio, sample_rate_hz=SAMPLE_RATE_HZ)
    for gain_db in (0.0, 4.0, 1.0, 20.0, 9.0):  # up, down, far up (beyond the kept peaks), down
        gain = 10 ** (gain_db / 20)
        reused, reused_stats = limit_true_peak(prepared, SAMPLE_RATE_HZ, input_gain=gain)
        limiter = TruePeakLimiter(SAMPLE_RATE_HZ, 2, input_gain=gain)
        streamed = np.concatenate([limiter.push(audio[:, s : s + 5000]) for s in range(0, audio.shape[1], 5000)] + [limiter.flush()], axis=1)
        np.testing.assert_array_equal(reused, streamed)
        assert reused_stats == limiter.stats
        assert _independent_true_peak_dbtp(reused) <= -1.0 + 1e-6
        if gain_db == 0.0:
            np.testing.assert_array_equal(reused, audio)  # under the ceiling: untouched
    assert limit_true_peak(prepared, SAMPLE_RATE_HZ, input_gain=10.0)[1].max_reduction_db > 15.0
