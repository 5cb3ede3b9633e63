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

Steps 2-5 are one compiled sequential loop (numba, already required by librosa): a sliding maximum, a
recursion and a running sum, each O(n); the gain (an exp per sample) is then vectorised by numpy.

Blocks: the gain at n needs y up to n + L + 20, so `push` returns output up to `delay_samples` behind its
input (`flush` returns the rest), and the output is aligned with the input (no latency in the result).
The carried state (20 + 10 samples of context, the release value, the last L values of r and their
running sum) makes the concatenated outputs bit-for-bit identical to one call on the whole signal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from sonolab.audio.loudness import LEFT_TAPS, RIGHT_TAPS, interval_peaks
from sonolab.audio.threads import copy_in_threads, map_in_chunks

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
def _smoothing_kernel(reduction, count, span, decay, state, ring, log_gain, first_counted):  # pragma: no cover - compiled
    """Hold (sliding max of `reduction` over `span`), release and box smoothing for `count` samples:
    writes the natural log of the gain, reduction_dB x DB_TO_LOG_GAIN, to `log_gain[:count]` (left at 0
    where nothing is held or released), keeps the statistics of the samples from `first_counted` on and
    returns how many samples it reduced.

    `state` = [r_last, running_sum, ring_position, max_reduction_db, limited_samples, threshold_db];
    `ring` holds the last L values of r. The exp per sample is left to numpy, vectorised: in this loop
    it cost more than the rest of it.
    """
    length = ring.shape[0]
    reduced = 0  # samples written (gain below 1)
    r_last = state[0]
    running = state[1]
    position = int(state[2])
    # sliding maximum over [n, n + span) with a monotonic queue of the positive values only
    # (reduction is 0 almost everywhere; the maximum of a window without positives is 0)
    # the queue never holds more than `span` positions: a ring of the next power of two (a few kB, in cache;
    # head and tail count on, the slot is the count & mask)
    capacity = 1
    while capacity <= span:
        capacity *= 2
    mask = capacity - 1
    deque = np.empty(capacity, dtype=np.int64)
    head = 0
    tail = 0
    for m in range(span - 1):
        if reduction[m] > 0.0:
            while tail > head and reduction[deque[(tail - 1) & mask]] <= reduction[m]:
                tail -= 1
            deque[tail & mask] = m
            tail += 1
    n = 0
    while n < count:
        if tail == head and r_last == 0.0 and running == 0.0:
            # idle (no reduction held, released or in the ring): skip to the next positive reduction
            m = n + span - 1
            while m < reduction.shape[0] and reduction[m] <= 0.0:
                m += 1
            stop = min(count, m - (span - 1))
            if stop > n:
                position = (position + (stop - n)) % length
                n = stop
                continue
        m = n + span - 1
        if reduction[m] > 0.0:
            while tail > head and reduction[deque[(tail - 1) & mask]] <= reduction[m]:
                tail -= 1
            deque[tail & mask] = m
            tail += 1
        while tail > head and deque[head & mask] < n:
            head += 1
        held = reduction[deque[head & mask]] if tail > head else 0.0
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
        value = running / length
        if value < 1e-12:
            value = 0.0
            if running < 1e-12 and running > -1e-12:
                running = 0.0
        if value > 0.0:
            log_gain[n] = value * DB_TO_LOG_GAIN
            reduced += 1
            if n >= first_counted:
                if value > state[3]:
                    state[3] = value
                if value > state[5]:
                    state[4] += 1
        n += 1
    state[0] = r_last
    state[1] = running
    state[2] = position
    return reduced


DETECTION_HEADROOM_DB = 12.0
"""When a make-up pass raises the gain above what a `PreparedSignal`'s peaks cover, it finds them again
this far below the new threshold, so the passes after it (which raise the gain by a few dB) only filter
them. Not on the first call: a lower threshold makes quiet material, which needs no limiting, costly."""


def _threshold(target: float, input_gain: float) -> float:
    """Detection threshold on the unscaled signal: a hair under target / gain, so that every interval with
    peak * gain > target is found whatever the rounding (`_fill_reduction` applies the exact test)."""
    return target / input_gain * (1.0 - 1e-9)


def _fill_reduction(reduction: np.ndarray, where: np.ndarray, peaks: np.ndarray, input_gain: float, target: float) -> None:
    """reduction[where] = dB by which peak * gain exceeds the target, for the intervals that do (one rule
    for the streaming and the prepared paths, so both give the same numbers)."""
    scaled = peaks * input_gain
    over = scaled > target
    reduction[where[over]] = 20.0 * np.log10(scaled[over] / target)


class TruePeakLimiter:
    """Streaming look-ahead true-peak limiter for `(channels, samples)` float64 audio.

    `input_gain` (linear) multiplies the input before limiting; it is applied inside the limiter, so the
    detection works on the unscaled input and its interval peaks can be reused at another gain
    (`PreparedSignal`, the make-up iteration)."""

    def __init__(
        self,
        sample_rate_hz: int,
        channels: int,
        ceiling_dbtp: float = DEFAULT_CEILING_DBTP,
        lookahead_s: float = DEFAULT_LOOKAHEAD_S,
        release_s: float = DEFAULT_RELEASE_S,
        input_gain: float = 1.0,
    ) -> None:
        if lookahead_s <= 0 or release_s <= 0:
            raise ValueError(f"look-ahead and release must be positive, got {lookahead_s} s and {release_s} s")
        if not input_gain > 0:
            raise ValueError(f"input gain must be positive, got {input_gain}")
        self.sample_rate_hz = int(sample_rate_hz)
        self.channels = int(channels)
        self.ceiling_dbtp = float(ceiling_dbtp)
        self.input_gain = float(input_gain)
        self.lookahead_samples = _lookahead_samples(lookahead_s, sample_rate_hz)
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

    def _emit(self, count: int, prepared: PreparedSignal | None = None) -> np.ndarray:
        buffer = self._buffer  # pending sample p is buffer[:, self._left + p]
        # reduction (dB) of the intervals at pending positions [-widen, count + L - 1 + widen)
        positions = count + self._span - 1
        reduction = np.zeros(positions)
        threshold = _threshold(self._target, self.input_gain)
        if prepared is None:
            where, peaks = interval_peaks(buffer, threshold, count=positions, fine=True)
        else:
            where, peaks = prepared.peaks_above(threshold, positions)
        _fill_reduction(reduction, where, peaks, self.input_gain, self._target)
        log_gain = np.zeros(count)
        reduced = _smoothing_kernel(reduction, count, self._span, self._decay, self._state, self._ring, log_gain, self._skip)
        pending = buffer[:, self._left : self._left + count]
        output = _apply_gain(pending, log_gain if reduced else None, self.input_gain)
        self._buffer = buffer[:, count:]
        if self._skip:
            dropped = min(self._skip, count)
            output, self._skip = output[:, dropped:], self._skip - dropped
        self._total += output.shape[1]
        return output


def _apply_gain(pending: np.ndarray, log_gain: np.ndarray | None, input_gain: float) -> np.ndarray:
    """pending x input gain x exp(log_gain) (`log_gain` None: no limiting), in chunks on several threads
    (numpy releases the GIL); `log_gain` is overwritten. Exactly the input gain where nothing is limited."""
    output = np.empty(pending.shape)

    def run(bounds: tuple[int, int]) -> None:
        start, stop = bounds
        if log_gain is None:
            np.multiply(pending[:, start:stop], input_gain, out=output[:, start:stop])
            return
        factor = np.exp(log_gain[start:stop], out=log_gain[start:stop])
        factor *= input_gain
        np.multiply(pending[:, start:stop], factor, out=output[:, start:stop])

    map_in_chunks(run, pending.shape[1], pending.size)
    return output


def _lookahead_samples(lookahead_s: float, sample_rate_hz: int) -> int:
    return max(1, int(round(lookahead_s * sample_rate_hz)))


class PreparedSignal:
    """One `(channels, samples)` signal made ready to be limited many times at different input gains
    (the make-up iteration): padded once, and its 8x interval peaks kept. A peak of gain * y is gain
    times the peak of y, so a pass at a lower gain only filters the stored peaks; a higher one finds them
    again, `DETECTION_HEADROOM_DB` further down, so that the passes after it need not (`headroom_first`:
    that far down from the first call on, where the caller knows the gain will rise). The limited output equals
    `TruePeakLimiter(..., input_gain).push(audio) + flush()` bit for bit."""

    def __init__(self, audio: np.ndarray | Sequence[np.ndarray], lookahead_s: float = DEFAULT_LOOKAHEAD_S, sample_rate_hz: int = 44100,
                 headroom_first: bool = False) -> None:
        # a list of `(channels, samples)` blocks is copied straight into the padded signal (no concatenation first)
        blocks = [np.atleast_2d(np.asarray(block, dtype=np.float64)) for block in ([audio] if isinstance(audio, np.ndarray) else audio)]
        if not blocks:
            raise ValueError("nothing to limit: no blocks given")
        self.frames = sum(block.shape[1] for block in blocks)
        self.channels = blocks[0].shape[0]
        self.lookahead_s = float(lookahead_s)
        self.sample_rate_hz = int(sample_rate_hz)
        lookahead = _lookahead_samples(lookahead_s, sample_rate_hz)
        widen = REACH // 2
        left = widen + LEFT_TAPS + lookahead - 1
        delay = lookahead - 1 + widen + RIGHT_TAPS
        self.padded = np.empty((self.channels, left + self.frames + delay))
        self.padded[:, :left] = 0.0
        self.padded[:, left + self.frames :] = 0.0
        for block in blocks:
            copy_in_threads(self.padded[:, left : left + block.shape[1]], block)
            left += block.shape[1]
        self._threshold = math.inf
        self._positions = -1
        self._headroom_first = bool(headroom_first)  # the headroom already on the first call (gain will rise)
        self._where = np.zeros(0, dtype=np.int64)
        self._peaks = np.zeros(0)

    def peaks_above(self, threshold: float, positions: int) -> tuple[np.ndarray, np.ndarray]:
        """(interval indices, peaks) of the first `positions` intervals whose 8x peak exceeds `threshold`."""
        if threshold < self._threshold or positions != self._positions:
            headroom_db = DETECTION_HEADROOM_DB if self._positions == positions or self._headroom_first else 0.0
            self._positions = positions
            self._threshold = threshold * 10.0 ** (-headroom_db / 20.0)
            self._where, self._peaks = interval_peaks(self.padded, self._threshold, count=positions, fine=True)
        keep = self._peaks > threshold
        return self._where[keep], self._peaks[keep]


def limit_true_peak(
    audio: np.ndarray | PreparedSignal,
    sample_rate_hz: int,
    ceiling_dbtp: float = DEFAULT_CEILING_DBTP,
    lookahead_s: float = DEFAULT_LOOKAHEAD_S,
    release_s: float = DEFAULT_RELEASE_S,
    input_gain: float = 1.0,
) -> tuple[np.ndarray, LimiterStats]:
    """Limit `input_gain` x `(channels, samples)` audio to `ceiling_dbtp` true peak in one call (float64 out).

    A `PreparedSignal` (same sample rate and look-ahead) reuses its padding and interval peaks."""
    if isinstance(audio, PreparedSignal):
        if (audio.sample_rate_hz, audio.lookahead_s) != (int(sample_rate_hz), float(lookahead_s)):
            raise ValueError("the prepared signal was padded for another sample rate or look-ahead")
        prepared = audio
    else:
        prepared = PreparedSignal(audio, lookahead_s, sample_rate_hz)
    limiter = TruePeakLimiter(sample_rate_hz, prepared.channels, ceiling_dbtp, lookahead_s, release_s, input_gain)
    if prepared.frames == 0:
        return np.zeros((prepared.channels, 0)), limiter.stats
    # what push(audio) + flush() compute, on the signal padded once: the buffer is the padded signal
    limiter._buffer = prepared.padded
    return limiter._emit(prepared.frames + limiter._skip, prepared), limiter.stats
