"""ITU-R BS.1770-4 integrated loudness and true peak, one-shot or block by block (identical results).

Loudness: the K-weighting filters are pyloudnorm's (its `Meter._filters`, the BS.1770 pre-filter and
RLB high-pass at any sample rate); the gating is written here because pyloudnorm's `integrated_loudness`
needs the whole signal in memory and loops over 400 ms blocks in Python (it set the speed of `eq apply`).
The test suite checks this meter against pyloudnorm's.

True peak: BS.1770-4 Annex 2 (4x oversampling, then the absolute maximum). pyloudnorm has no true-peak
meter, so the 4x polyphase interpolator is written here. It is evaluated only where it can matter:
an interpolated value is at most `bound` (the largest sum of |taps| of a phase) times the largest sample
in the filter's reach, so intervals whose neighbourhood is quieter than `threshold / bound` are skipped
exactly (no approximation); on music that is most of the signal.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from scipy import signal

from sonolab.audio.threads import filter_channels, map_in_chunks

OVERSAMPLING = 4
HALF_TAPS = 10 * OVERSAMPLING  # scipy.signal.resample_poly's default filter: 2 * 10 * 4 + 1 taps, Kaiser beta 5
LEFT_TAPS = HALF_TAPS // OVERSAMPLING  # y(n + k/4) is interpolated from y[n - 10 .. n + 10]
RIGHT_TAPS = HALF_TAPS // OVERSAMPLING
BLOCK_S = 0.4
HOP_S = 0.1
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)  # L, R, C, Ls, Rs (BS.1770)
MINIMUM_LOUDNESS_S = BLOCK_S


def _interpolation_phases(oversampling: int = OVERSAMPLING) -> np.ndarray:
    """(4, 21) coefficients giving y(n + k/4), k = 0..3, from y[n - 10 .. n + 10].

    The very filter `scipy.signal.resample_poly(y, 4, 1)` uses (Kaiser-windowed sinc, beta 5, 81 taps,
    cut-off at the input's Nyquist), so this meter reads what that common 4x check reads (the tests
    compare them). On full-band material it reads slightly higher than a 48-tap Annex-2-style filter
    and than a 16x oversampled reference, which errs on the safe side for a ceiling.
    """
    half_taps = LEFT_TAPS * oversampling  # the same reach (21 input samples) at any oversampling
    prototype = oversampling * signal.firwin(2 * half_taps + 1, 1.0 / oversampling, window=("kaiser", 5.0))
    offsets = np.arange(-LEFT_TAPS, RIGHT_TAPS + 1)
    phases = np.zeros((oversampling, offsets.size))
    for k in range(oversampling):
        index = half_taps + k - oversampling * offsets
        valid = (index >= 0) & (index < prototype.size)
        phases[k, valid] = prototype[index[valid]]
    return phases


PHASES = _interpolation_phases()
PHASE_WEIGHTS = np.max(np.abs(PHASES), axis=0)  # per tap, the largest |coefficient| over the phases
PHASE_BOUND = float(np.sum(PHASE_WEIGHTS))
FINE_OVERSAMPLING = 8
FINE_PHASES = _interpolation_phases(FINE_OVERSAMPLING)
"""8x phases for the limiter's detector: a 4x meter can read up to ~0.7 dB under the waveform's peak for
content near Nyquist (the peak falls between its points); limiting on an 8x grid keeps the output under the
ceiling for any 4x meter and for finer ones (16x) as well."""
FINE_WEIGHTS = np.max(np.abs(FINE_PHASES), axis=0)
FINE_BOUND = float(np.sum(FINE_WEIGHTS))


def _folded(phases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The phases folded on their symmetry, for `_interval_peaks_kernel`.

    Phase O - k is phase k mirrored about the interval's middle (h_{O-k}[j] = h_k[1 - j], and
    h_k[-10] = 0 for k >= 1), so with u_j = y[n + j] + y[n + 1 - j] and v_j = y[n + j] - y[n + 1 - j]
    (j = 1..10): p_k + p_{O-k} = sum_j (h_k[j] + h_k[1-j]) u_j, p_k - p_{O-k} = sum_j (h_k[j] - h_k[1-j]) v_j,
    and max(|p_k|, |p_{O-k}|) = (|sum| + |difference|) / 2; the middle phase O/2 is sum_j h[j] u_j.
    Returns sums (O/2, 10) (the last row: the middle phase) and differences (O/2 - 1, 10): about half
    the multiplications of the plain 21-tap products.
    """
    oversampling = phases.shape[0]
    pairs = oversampling // 2 - 1
    assert np.all(phases[1:, 0] == 0.0)
    for k in range(1, oversampling):  # h_{O-k}[j] = h_k[1 - j]: rows are indexed by j + 10
        assert np.array_equal(phases[oversampling - k, 1:], phases[k, :0:-1])
    upper = phases[:, LEFT_TAPS + 1 :]  # h_k[j], j = 1..10
    lower = phases[:, LEFT_TAPS : 0 : -1]  # h_k[1 - j], j = 1..10
    sums = np.vstack([upper[1 : pairs + 1] + lower[1 : pairs + 1], upper[pairs + 1 : pairs + 2]])
    differences = upper[1 : pairs + 1] - lower[1 : pairs + 1]
    return np.ascontiguousarray(sums), np.ascontiguousarray(differences)


FOLDED = _folded(PHASES)
CENTRE = max(1.0, abs(float(PHASES[0, LEFT_TAPS])))
FINE_CENTRE = max(1.0, abs(float(FINE_PHASES[0, LEFT_TAPS])))
FINE_FOLDED = _folded(FINE_PHASES)
SCREEN_BLOCK = 64  # intervals screened together: skipped when 21-sample reach x PHASE_BOUND <= threshold


FINE_SUMS, FINE_DIFFERENCES = FINE_FOLDED
SUMS, DIFFERENCES = FOLDED


@numba.njit(cache=True, nogil=True, inline="always")
def _fine_peak(row, base):  # pragma: no cover - compiled
    """max_k |y(n + k/8)|, k = 1..7, of one channel (`row[base]` is sample n), from the folded 8x phases.

    The two functions below are written out with scalar accumulators and the coefficients as compiled
    constants: a loop over the phases with small arrays, or the coefficients passed as arguments, ran
    2.5 to 7x slower."""
    s1 = s2 = s3 = s4 = d1 = d2 = d3 = 0.0
    for j in range(RIGHT_TAPS):
        upper = row[base + 1 + j]
        lower = row[base - j]
        u = upper + lower
        v = upper - lower
        s1 += FINE_SUMS[0, j] * u
        s2 += FINE_SUMS[1, j] * u
        s3 += FINE_SUMS[2, j] * u
        s4 += FINE_SUMS[3, j] * u
        d1 += FINE_DIFFERENCES[0, j] * v
        d2 += FINE_DIFFERENCES[1, j] * v
        d3 += FINE_DIFFERENCES[2, j] * v
    return max(abs(s4), 0.5 * (abs(s1) + abs(d1)), 0.5 * (abs(s2) + abs(d2)), 0.5 * (abs(s3) + abs(d3)))


@numba.njit(cache=True, nogil=True, inline="always")
def _meter_peak(row, base):  # pragma: no cover - compiled
    """max_k |y(n + k/4)|, k = 1..3, of one channel, from the folded BS.1770-4 4x phases."""
    s1 = s2 = d1 = 0.0
    for j in range(RIGHT_TAPS):
        upper = row[base + 1 + j]
        lower = row[base - j]
        u = upper + lower
        v = upper - lower
        s1 += SUMS[0, j] * u
        s2 += SUMS[1, j] * u
        d1 += DIFFERENCES[0, j] * v
    return max(abs(s2), 0.5 * (abs(s1) + abs(d1)))


@numba.njit(cache=True, nogil=True)
def _block_peaks(row, first, width, candidates, count, best, fine):  # pragma: no cover - compiled
    """best[i] = max(best[i], interpolated peak of interval i) for one channel (`row[first + i]` is the
    interval's first sample) and the intervals i = candidates[:count]. Four explicit loops, so that each
    inlines its peak function (as an argument it was not inlined: 2-3x slower); the dense ones (most of
    the block a candidate) run over every interval without a condition, which the compiler vectorises
    (3x faster), and the sparse ones over the candidate list (a condition in the loop was vectorised too,
    computing every interval)."""
    dense = 4 * count > width
    if fine and dense:
        for i in range(width):
            value = _fine_peak(row, first + i)
            if value > best[i]:
                best[i] = value
    elif fine:
        for q in range(count):
            i = candidates[q]
            value = _fine_peak(row, first + i)
            if value > best[i]:
                best[i] = value
    elif dense:
        for i in range(width):
            value = _meter_peak(row, first + i)
            if value > best[i]:
                best[i] = value
    else:
        for q in range(count):
            i = candidates[q]
            value = _meter_peak(row, first + i)
            if value > best[i]:
                best[i] = value


@numba.njit(cache=True, nogil=True)
def _interval_peaks_kernel(padded, first, stop, threshold, fine, centre, weights, bound, block):  # pragma: no cover - compiled
    """Indices and peaks (> threshold) of the intervals first..stop-1 of `padded[:, L:]`; see `interval_peaks`.
    `first` is a multiple of `block`, so that chunks screen the same blocks as one call."""
    channels = padded.shape[0]
    taps = weights.shape[0]
    half = taps // 2
    indices = np.empty(stop - first, dtype=np.int64)
    peaks = np.empty(stop - first)
    found = 0
    magnitude = np.empty(block + taps - 1)
    limit = np.empty(block)
    best = np.empty(block)
    candidates = np.empty(block, dtype=np.int64)
    for start in range(first, stop, block):
        width = min(block, stop - start)
        span = width + taps - 1
        loudest = 0.0
        for m in range(span):
            magnitude[m] = abs(padded[0, start + m])
        for c in range(1, channels):
            row = padded[c]
            for m in range(span):
                v = abs(row[start + m])
                if v > magnitude[m]:
                    magnitude[m] = v
        for m in range(span):
            if magnitude[m] > loudest:
                loudest = magnitude[m]
        if loudest * bound <= threshold:  # nothing in this block can exceed the threshold
            continue
        for i in range(width):
            limit[i] = 0.0
        for j in range(taps):  # per interval: sum_j max_k |h_k[j]| * max_c |y_c[n + j]| bounds every |y_c(n + k/O)|
            w = weights[j]
            for i in range(width):
                limit[i] += w * magnitude[i + j]
        # phase 0 (the sample instants) of this windowed sinc is the sample itself times its centre
        # tap (the other taps sit on the sinc's zeros, ~1e-17): no need to filter for it
        for i in range(width):
            best[i] = magnitude[i + half] * centre
        count_candidates = 0
        for i in range(width):
            if limit[i] > threshold:
                candidates[count_candidates] = i
                count_candidates += 1
        if count_candidates == 0:
            continue
        for c in range(channels):  # channel by channel: switching rows per interval ran 4x slower
            _block_peaks(padded[c], start + half, width, candidates, count_candidates, best, fine)
        for i in range(width):
            if limit[i] > threshold and best[i] > threshold:
                indices[found] = start + i
                peaks[found] = best[i]
                found += 1
    return indices[:found], peaks[:found]


def interval_peaks(padded: np.ndarray, threshold: float, count: int | None = None, fine: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """True peaks of the intervals of `padded[:, LEFT_TAPS:-RIGHT_TAPS]` that exceed `threshold`.

    `padded` is `(channels, LEFT_TAPS + n + RIGHT_TAPS)` (context on both sides), or longer with
    `count` = n given (the rest is only context). Returns
    (interval indices in 0..n-1, linear peaks): the maximum over channels of |y[m]| and |y(m + k/4)|,
    k = 0..3, for every interval whose peak exceeds `threshold`; every other interval's peak is <= it.
    The interpolation is a compiled loop (numba, already required by librosa): gathering the 21-sample
    windows with numpy took 25x longer. Only intervals that can exceed the threshold are interpolated,
    exactly: a block of 64 is skipped when its loudest sample times the sum of the largest |taps| cannot,
    and an interval when sum_j max_k |h_k[j]| * max_c |y_c[n + j]| cannot. `fine=True` interpolates on the
    8x grid (`FINE_PHASES`) instead of the BS.1770-4 4x one.
    """
    padded = np.ascontiguousarray(np.atleast_2d(padded), dtype=np.float64)
    available = padded.shape[1] - LEFT_TAPS - RIGHT_TAPS
    count = available if count is None else min(int(count), available)
    if count <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    constants = (True, FINE_CENTRE, FINE_WEIGHTS, FINE_BOUND) if fine else (False, CENTRE, PHASE_WEIGHTS, PHASE_BOUND)

    def chunk(bounds: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        return _interval_peaks_kernel(padded, bounds[0], bounds[1], float(threshold), *constants, SCREEN_BLOCK)

    # chunks on block boundaries screen exactly the blocks one call would: the same result, on several cores
    parts = map_in_chunks(chunk, count, count * padded.shape[0], SCREEN_BLOCK)
    if len(parts) == 1:
        return parts[0]
    return np.concatenate([where for where, _ in parts]), np.concatenate([peaks for _, peaks in parts])


class TruePeakMeter:
    """Streaming true peak (linear); `push` blocks of `(channels, samples)`, then read `peak`/`dbtp`."""

    def __init__(self, channels: int) -> None:
        self._context = np.zeros((channels, LEFT_TAPS + RIGHT_TAPS))
        self.peak = 0.0

    def push(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, dtype=np.float64)
        reach = LEFT_TAPS + RIGHT_TAPS
        if block.shape[-1] == 0:
            return
        self.peak = max(self.peak, float(block.max()), -float(block.min()))  # the samples are part of the true peak
        if block.shape[-1] < reach:
            padded = np.concatenate([self._context, block], axis=1)
            self._measure(padded)
            self._context = padded[:, -reach:]
            return
        # the intervals that need the previous samples, then the block's own (without copying it whole)
        self._measure(np.concatenate([self._context, block[:, :reach]], axis=1))
        self._measure(block)
        self._context = block[:, -reach:].copy()

    def _measure(self, padded: np.ndarray) -> None:
        _, peaks = interval_peaks(padded, self.peak)
        self.peak = max(self.peak, float(peaks.max()) if peaks.size else 0.0)

    def finish(self) -> float:
        """Close the stream (the signal is zero after its end) and return the peak."""
        self._measure(np.concatenate([self._context, np.zeros((self._context.shape[0], RIGHT_TAPS))], axis=1))
        self._context = np.zeros_like(self._context)
        return self.peak

    @property
    def dbtp(self) -> float:
        return 20.0 * math.log10(self.peak) if self.peak > 0 else -math.inf


def true_peak_dbtp(audio: np.ndarray, sample_rate_hz: int | None = None) -> float:
    """BS.1770-4 true peak (dBTP, 4x oversampled) of `(channels, samples)` or `(samples,)` audio."""
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    meter = TruePeakMeter(audio.shape[0])
    meter.push(audio)
    meter.finish()
    return meter.dbtp


class LoudnessMeter:
    """Streaming BS.1770-4 integrated loudness: K-weighting (pyloudnorm's filters) with state carried
    across blocks, mean squares per 100 ms hop, 400 ms blocks with 75 % overlap, absolute and relative gates."""

    def __init__(self, sample_rate_hz: int, channels: int) -> None:
        import pyloudnorm

        if channels > len(CHANNEL_WEIGHTS):
            raise ValueError(f"BS.1770 loudness is defined for up to {len(CHANNEL_WEIGHTS)} channels, got {channels}")
        meter = pyloudnorm.Meter(int(sample_rate_hz))
        stages = list(meter._filters.values())
        self._sos = np.concatenate([signal.tf2sos(stage.b, stage.a) for stage in stages])
        self._gain = float(np.prod([stage.passband_gain for stage in stages]))
        self._state = np.zeros((self._sos.shape[0], channels, 2))
        self.sample_rate_hz = int(sample_rate_hz)
        self.channels = channels
        self._hop_samples = int(round(HOP_S * sample_rate_hz))
        self._partial = np.zeros(channels)
        self._partial_count = 0
        self._hops: list[np.ndarray] = []  # (channels,) sums of squares per complete hop
        self.samples = 0

    def push(self, block: np.ndarray) -> None:
        block = np.atleast_2d(np.asarray(block, dtype=np.float64))
        if block.shape[-1] == 0:
            return
        weighted, self._state = filter_channels(self._sos, block, self._state)
        squares = np.square(weighted, out=weighted)  # the pass-band gain squared is applied to the sums
        self.samples += block.shape[-1]
        position = 0
        if self._partial_count:
            take = min(self._hop_samples - self._partial_count, squares.shape[-1])
            self._partial += squares[:, :take].sum(axis=1)
            self._partial_count += take
            position = take
            if self._partial_count == self._hop_samples:
                self._hops.append(self._partial)
                self._partial, self._partial_count = np.zeros(self.channels), 0
        whole = (squares.shape[-1] - position) // self._hop_samples
        if whole:
            chunk = squares[:, position : position + whole * self._hop_samples]
            self._hops.extend(chunk.reshape(self.channels, whole, self._hop_samples).sum(axis=2).T)
            position += whole * self._hop_samples
        if position < squares.shape[-1]:
            self._partial += squares[:, position:].sum(axis=1)
            self._partial_count += squares.shape[-1] - position

    def integrated_lufs(self, gain: float = 1.0) -> float | None:
        """Gated integrated loudness (LUFS), or None when shorter than one 400 ms block or silent; with
        `gain`, that of the pushed signal times `gain` (K-weighting is linear: the mean squares scale by
        gain^2, and the gates are applied afresh)."""
        hops_per_block = int(round(BLOCK_S / HOP_S))
        if len(self._hops) < hops_per_block:
            return None
        hops = np.stack(self._hops) * (self._gain * gain) ** 2  # (hops, channels)
        cumulative = np.concatenate([np.zeros((1, self.channels)), np.cumsum(hops, axis=0)])
        blocks = (cumulative[hops_per_block:] - cumulative[:-hops_per_block]) / (hops_per_block * self._hop_samples)
        weighted = blocks @ np.asarray(CHANNEL_WEIGHTS[: self.channels])
        with np.errstate(divide="ignore"):
            block_lufs = -0.691 + 10.0 * np.log10(weighted)
        gated = block_lufs >= ABSOLUTE_GATE_LUFS
        if not gated.any():
            return None
        relative_gate = -0.691 + 10.0 * math.log10(float(weighted[gated].mean())) + RELATIVE_GATE_LU
        gated &= block_lufs > relative_gate
        if not gated.any():
            return None
        return float(-0.691 + 10.0 * math.log10(float(weighted[gated].mean())))


def integrated_loudness_lufs(audio: np.ndarray, sample_rate_hz: int) -> float | None:
    """BS.1770-4 integrated loudness of `(channels, samples)` audio, or None if too short or silent."""
    audio = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    meter = LoudnessMeter(sample_rate_hz, audio.shape[0])
    meter.push(audio)
    return meter.integrated_lufs()
