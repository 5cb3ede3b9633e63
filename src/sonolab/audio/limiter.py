"""A look-ahead true-peak limiter (BS.1770-4 4x true peak), vectorised, identical block by block.

Why not a library: pedalboard 0.9.26 was measured on the same job (benchmarks/semantic_eq.py,
docs/benchmarks.md: mastered pink noise, 'bright', gain-matched, ceiling -1 dBTP). Its `Limiter` (JUCE)
adds its own make-up gain and only hard-clips at 0 dBFS: +2.12 dBTP out. Its `BrickwallLimiter(ceiling_db=-1,
true_peak=True)` overshot to -0.83 dBTP (its documentation says a true-peak detector "does not guarantee"
the ceiling), delays the output by its look-ahead, and fed in 4096-sample blocks did not give the one-shot
output. Nothing else maintained on PyPI offers a true-peak look-ahead limiter, so it is written here.

Gain computer, per sample n (linked over channels, so the stereo image does not move):
1. t[n] = dB by which the peak of the interval [n, n+1), interpolated on an 8x grid (finer than the
   BS.1770-4 4x meter, so that no 4x or finer meter reads above the ceiling), exceeds `ceiling` (0 where it
   does not); only intervals that can exceed it are interpolated (`loudness.interval_peaks`);
2. widened to every sample in the interpolator's reach (the 21 samples an inter-sample value depends on);
3. held over the look-ahead window [n, n + L): h[n] = max t[n .. n + L - 1];
4. release: r[n] = max(h[n], r[n-1] * exp(-1 / (release_s * rate))) (exponential return of the dB value);
5. attack smoothing: s[n] = mean(r[n - L + 1 .. n]); since r >= h and every h in the L samples before a
   peak covers the peak, s at the peak is at least its t: the ceiling holds, and the gain ramps down
   over the L samples before the peak instead of jumping.
Gain = 10^(-s/20). Where nothing exceeds the ceiling, t, r and s are 0 and the output is the input
exactly (transparent).

Steps 2-5 and the gain are one compiled sequential loop (numba, already required by librosa): a
sliding maximum, a recursion and a running sum, each O(n).

Blocks: the gain at n needs y up to n + L + 20, so `push` returns output up to `delay_samples` behind its
input (`flush` returns the rest), and the output is aligned with the input (no latency in the result).
The carried state (20 + 10 samples of context, the release value, the last L values of r and their
running sum) makes the concatenated outputs bit-for-bit identical to one call on the whole signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from sonolab.audio.loudness import LEFT_TAPS, RIGHT_TAPS, interval_peaks

DEFAULT_CEILING_DBTP = -1.0
DEFAULT_LOOKAHEAD_S = 0.002
DEFAULT_RELEASE_S = 0.05
CEILING_MARGIN_DB = 0.1
"""The limiter aims this far below the ceiling: the gain changes a little within the interpolator's
21-sample reach, and the waveform between 8x points can rise a few hundredths of a dB more (a 16x
reference read up to 0.07 dB above the 8x grid on a mastered mix)."""
LIMITING_THRESHOLD_DB = 0.1
"""Gain reduction above this counts as 'limiting' in the reported duration."""
DB_TO_LOG_GAIN = -math.log(10.0) / 20.0  # gain = exp(reduction_db * DB_TO_LOG_GAIN) = 10^(-reduction_db / 20)
REACH = LEFT_TAPS + RIGHT_TAPS  # samples an interval's interpolated values depend on, beyond the interval


@dataclass
class LimiterStats:
    """What the limiter did: the largest gain reduction (dB) and for how many samples it exceeded 0.1 dB."""

    max_reduction_db: float = 0.0
    limited_samples: int = 0
    total_samples: int = 0

    def limited_s(self, sample_rate_hz: int) -> float:
        return self.limited_samples / float(sample_rate_hz)


@numba.njit(cache=True, nogil=True)
def _gain_kernel(pending, reduction, count, span, decay, state, ring, output, first_counted):  # pragma: no cover - compiled
    """Hold (sliding max of `reduction` over `span`), release, box smoothing and gain for `count` samples.

    `state` = [r_last, running_sum, ring_position, max_reduction_db, limited_samples, threshold_db];
    `ring` holds the last L values of r. Writes `output[:, :count]`.
    """
    channels = pending.shape[0]
    length = ring.shape[0]
    r_last = state[0]
    running = state[1]
    position = int(state[2])
    # sliding maximum over [n, n + span) with a monotonic queue of the positive values only
    # (reduction is 0 almost everywhere; the maximum of a window without positives is 0)
    deque = np.empty(reduction.shape[0], dtype=np.int64)
    head = 0
    tail = 0
    for m in range(span - 1):
        if reduction[m] > 0.0:
            while tail > head and reduction[deque[tail - 1]] <= reduction[m]:
                tail -= 1
            deque[tail] = m
            tail += 1
    n = 0
    while n < count:
        if tail == head and r_last == 0.0 and running == 0.0:
            # idle (no reduction held, released or in the ring): copy up to the next positive reduction
            m = n + span - 1
            while m < reduction.shape[0] and reduction[m] <= 0.0:
                m += 1
            stop = min(count, m - (span - 1))
            if stop > n:
                for c in range(channels):
                    for i in range(n, stop):
                        output[c, i] = pending[c, i]
                position = (position + (stop - n)) % length
                n = stop
                continue
        m = n + span - 1
        if reduction[m] > 0.0:
            while tail > head and reduction[deque[tail - 1]] <= reduction[m]:
                tail -= 1
            deque[tail] = m
            tail += 1
        while tail > head and deque[head] < n:
            head += 1
        held = reduction[deque[head]] if tail > head else 0.0
        released = r_last * decay
        if released < 1e-9:
            released = 0.0
        if held > released:
            released = held
        r_last = released
        running += released - ring[position]
        ring[position] = released
        position += 1
        if position == length:
            position = 0
        smoothed = running / length
        if smoothed < 1e-12:
            smoothed = 0.0
            if running < 1e-12 and running > -1e-12:
                running = 0.0
        if smoothed > 0.0:
            gain = math.exp(smoothed * DB_TO_LOG_GAIN)
            if n >= first_counted:
                if smoothed > state[3]:
                    state[3] = smoothed
                if smoothed > state[5]:
                    state[4] += 1
            for c in range(channels):
                output[c, n] = pending[c, n] * gain
        else:
            for c in range(channels):
                output[c, n] = pending[c, n]
        n += 1
    state[0] = r_last
    state[1] = running
    state[2] = position


class TruePeakLimiter:
    """Streaming look-ahead true-peak limiter for `(channels, samples)` float64 audio."""

    def __init__(
        self,
        sample_rate_hz: int,
        channels: int,
        ceiling_dbtp: float = DEFAULT_CEILING_DBTP,
        lookahead_s: float = DEFAULT_LOOKAHEAD_S,
        release_s: float = DEFAULT_RELEASE_S,
    ) -> None:
        if lookahead_s <= 0 or release_s <= 0:
            raise ValueError(f"look-ahead and release must be positive, got {lookahead_s} s and {release_s} s")
        self.sample_rate_hz = int(sample_rate_hz)
        self.channels = int(channels)
        self.ceiling_dbtp = float(ceiling_dbtp)
        self.lookahead_samples = max(1, int(round(lookahead_s * sample_rate_hz)))
        self._target = 10.0 ** ((ceiling_dbtp - CEILING_MARGIN_DB) / 20.0)
        self._decay = math.exp(-1.0 / (release_s * sample_rate_hz))
        self._widen = REACH // 2
        self._span = self.lookahead_samples + 2 * self._widen  # reduction positions one output sample looks at
        # input needed beyond an output sample: hold window + widening + interpolator reach
        self.delay_samples = self.lookahead_samples - 1 + self._widen + RIGHT_TAPS
        self._left = self._widen + LEFT_TAPS  # context kept before the first pending sample
        # buffer = context (self._left samples already output) + pending input; the gain ramps down over
        # the L samples before a peak, so the stream starts L - 1 (silent) samples early and their output
        # is dropped
        self._buffer = np.zeros((channels, self._left + self.lookahead_samples - 1))
        self._skip = self.lookahead_samples - 1
        self._ring = np.zeros(self.lookahead_samples)
        self._state = np.array([0.0, 0.0, 0.0, 0.0, 0.0, LIMITING_THRESHOLD_DB])
        self._total = 0

    @property
    def stats(self) -> LimiterStats:
        return LimiterStats(float(self._state[3]), int(self._state[4]), self._total)

    def push(self, block: np.ndarray) -> np.ndarray:
        """Feed `(channels, samples)`; returns the limited output available so far (maybe empty)."""
        block = np.asarray(block, dtype=np.float64)
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"expected ({self.channels}, samples), got {block.shape}")
        self._buffer = np.concatenate([self._buffer, block], axis=1)
        ready = self._buffer.shape[1] - self._left - self.delay_samples
        return self._emit(ready) if ready > 0 else np.zeros((self.channels, 0))

    def flush(self) -> np.ndarray:
        """The remaining output (the signal is taken as zero after its end)."""
        remaining = self._buffer.shape[1] - self._left
        if remaining <= self._skip:  # nothing was pushed
            return np.zeros((self.channels, 0))
        self._buffer = np.concatenate([self._buffer, np.zeros((self.channels, self.delay_samples))], axis=1)
        output = self._emit(remaining)
        self._buffer = self._buffer[:, : self._left]
        return output

    def _emit(self, count: int) -> np.ndarray:
        buffer = self._buffer  # pending sample p is buffer[:, self._left + p]
        # reduction (dB) of the intervals at pending positions [-widen, count + L - 1 + widen)
        positions = count + self._span - 1
        reduction = np.zeros(positions)
        where, peaks = interval_peaks(buffer, self._target, count=positions, fine=True)
        reduction[where] = 20.0 * np.log10(peaks / self._target)
        output = np.empty((self.channels, count))
        _gain_kernel(buffer[:, self._left :], reduction, count, self._span, self._decay, self._state, self._ring, output, self._skip)
        self._buffer = buffer[:, count:]
        if self._skip:
            dropped = min(self._skip, count)
            output, self._skip = output[:, dropped:], self._skip - dropped
        self._total += output.shape[1]
        return output


def limit_true_peak(
    audio: np.ndarray,
    sample_rate_hz: int,
    ceiling_dbtp: float = DEFAULT_CEILING_DBTP,
    lookahead_s: float = DEFAULT_LOOKAHEAD_S,
    release_s: float = DEFAULT_RELEASE_S,
) -> tuple[np.ndarray, LimiterStats]:
    """Limit `(channels, samples)` audio to `ceiling_dbtp` true peak in one call (float64 out)."""
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    limiter = TruePeakLimiter(sample_rate_hz, audio.shape[0], ceiling_dbtp, lookahead_s, release_s)
    if audio.shape[1] == 0:
        return audio.copy(), limiter.stats
    # what push(audio) + flush() compute, with one copy of the signal instead of three
    tail = np.zeros((audio.shape[0], limiter.delay_samples))
    limiter._buffer = np.concatenate([limiter._buffer, audio, tail], axis=1)
    output = limiter._emit(audio.shape[1] + limiter._skip)
    return output, limiter.stats
