"""The DSP of `eq apply` on several threads gives exactly what it gives on one."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from sonolab.audio.eq import EqFilter, EqSetting, apply_design, design_eq
from sonolab.audio.limiter import limit_true_peak
from sonolab.audio.loudness import interval_peaks
from sonolab.audio.threads import THREADS_VARIABLE, chunk_bounds, dsp_threads, filter_channels, threads_for

SAMPLE_RATE_HZ = 44100
SETTING = EqSetting(-4.0, 120.0, 3.0, 300.0, 1.2, -2.0, 1000.0, 0.8, 5.0, 3500.0, 0.8, 6.0, 6500.0)


def _loud_stereo(seconds: float = 4.0) -> np.ndarray:
    rng = np.random.default_rng(3)
    audio = rng.standard_normal((2, int(seconds * SAMPLE_RATE_HZ))) * 0.3
    return np.clip(audio, -1.0, 1.0)  # peaks at full scale: the limiter has work everywhere


@pytest.mark.parametrize("total, parts, multiple", [(1000, 2, 64), (129, 4, 64), (10, 3, 1), (0, 2, 64), (5, 8, 1)])
def test_chunk_bounds_cover_the_range_in_order_on_multiples(total: int, parts: int, multiple: int) -> None:
    bounds = chunk_bounds(total, parts, multiple)
    covered = [i for start, stop in bounds for i in range(start, stop)]
    assert covered == list(range(total))
    assert all(start % multiple == 0 for start, _ in bounds)
    assert len(bounds) <= parts


def test_thread_count_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(THREADS_VARIABLE, "1")
    assert dsp_threads() == 1 and threads_for(10**8) == 1
    monkeypatch.setenv(THREADS_VARIABLE, "2")
    assert dsp_threads() == 2 and threads_for(10**8) == 2
    assert threads_for(1000) == 1  # short signals stay on the caller's thread
    monkeypatch.setenv(THREADS_VARIABLE, "two")
    with pytest.raises(ValueError, match=THREADS_VARIABLE):
        dsp_threads()


def _with_threads(monkeypatch: pytest.MonkeyPatch, threads: int, function):
    monkeypatch.setenv(THREADS_VARIABLE, str(threads))
    return function()


def test_filtering_channels_on_threads_equals_one_call(monkeypatch: pytest.MonkeyPatch) -> None:
    audio = _loud_stereo()
    design = design_eq(SETTING, SAMPLE_RATE_HZ)
    sections = signal.tf2sos(*signal.butter(4, 0.2))
    monkeypatch.setenv(THREADS_VARIABLE, "2")
    state = np.random.default_rng(0).standard_normal((sections.shape[0], 2, 2))
    output, final = filter_channels(sections, audio, state)
    expected, expected_final = signal.sosfilt(sections, audio, axis=-1, zi=state)
    np.testing.assert_array_equal(output, expected)
    np.testing.assert_array_equal(final, expected_final)
    np.testing.assert_array_equal(filter_channels(sections, audio), signal.sosfilt(sections, audio, axis=-1))
    threaded = apply_design(audio, design)
    blocks = EqFilter(design, 2)
    streamed = np.concatenate([blocks.process(audio[:, i : i + 70000]) for i in range(0, audio.shape[1], 70000)], axis=1)
    single = _with_threads(monkeypatch, 1, lambda: apply_design(audio, design))
    np.testing.assert_array_equal(threaded, single)
    np.testing.assert_array_equal(streamed.astype(np.float32), single)


def test_true_peak_detection_and_limiter_are_the_same_on_any_number_of_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    audio = _loud_stereo()
    padded = np.pad(audio, ((0, 0), (10, 10)))
    threshold = 0.5
    one = _with_threads(monkeypatch, 1, lambda: interval_peaks(padded, threshold, fine=True))
    two = _with_threads(monkeypatch, 2, lambda: interval_peaks(padded, threshold, fine=True))
    assert one[0].size > 1000 and one[0][-1] > audio.shape[1] // 2  # found on both halves
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    three = _with_threads(monkeypatch, 3, lambda: interval_peaks(padded, threshold))  # the 4x meter, 3 chunks
    np.testing.assert_array_equal(_with_threads(monkeypatch, 1, lambda: interval_peaks(padded, threshold))[1], three[1])
    limited_one, stats_one = _with_threads(monkeypatch, 1, lambda: limit_true_peak(audio, SAMPLE_RATE_HZ, input_gain=2.0))
    limited_two, stats_two = _with_threads(monkeypatch, 2, lambda: limit_true_peak(audio, SAMPLE_RATE_HZ, input_gain=2.0))
    np.testing.assert_array_equal(limited_one, limited_two)
    assert stats_one == stats_two and stats_one.max_reduction_db > 1.0
