"""Each long clip's nearest neighbours by the correlation of its coarse band envelopes at tempo 1 and pitch 0.

A second shortlist for the copy detector (`sonolab.data.content_index.find_copies`): a reverberant copy of a long
clip keeps few of its source's spectral peaks (a 0.6 s tail smears them), so the peak index gives it few votes and
ranks it behind other clips of one class; its loudness over time in a dozen wide bands, on ~0.2 s frames, still
follows the source's. Every pair of long clips is compared over lags of up to ~2 s (one matrix product per lag, in
blocks of rows: quadratic, but ~2 s for 2,000 clips and a few minutes for 20,000 on two cores), and each
clip keeps its `count` best partners. The correlation decides nothing: the envelopes of clips of one class are as
alike (its value reaches 0.99 between distinct generated clips); the rank is what singles out a copy. The copy
detector then measures each such pair's room response from the files (`direct_path_db`).

Hand-written: a batched cross-correlation of every pair over a few dozen lags is a matrix product per lag (numpy);
no nearest-neighbour library searches over lags.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sonolab.data.fingerprint import DB_STEP, Fingerprint


def band_envelopes(fp: Fingerprint, pool_frames: int, bands: int) -> np.ndarray:
    """(frames // pool_frames, bands) float32: the clip's dB levels averaged over `pool_frames` frames and over
    `bands` equal groups of bins (the top bins that do not fill a group are left out), each band centred on its
    mean over the clip."""
    decibels = fp.spectrogram.astype(np.float32) * DB_STEP
    frames = decibels.shape[0] // pool_frames * pool_frames
    width = decibels.shape[1] // bands
    pooled = decibels[:frames, :width * bands].reshape(frames // pool_frames, pool_frames, bands, width).mean(axis=(1, 3))
    return pooled - pooled.mean(axis=0, keepdims=True) if pooled.size else pooled


def envelope_neighbours(prints: Sequence[Fingerprint], members: np.ndarray, blocks: np.ndarray, count: int,
                        pool_frames: int, bands: int, max_lag_frames: int, rows_per_block: int = 512
                        ) -> list[tuple[int, int, int, float]]:
    """(first, second, lag in pooled frames, correlation) for each clip where `members` is true and its `count`
    partners (also members, of another block) with the highest envelope correlation at any lag within
    `max_lag_frames` pooled frames; `second` holds `first` delayed by the lag. Each unordered pair once
    (first < second).

    The correlation at a lag is Pearson's over the frames where the two overlap, each band centred on its own mean
    there (a clip shorter than the longest is padded with its mean: zeros, as `band_envelopes` centres it)."""
    chosen = np.flatnonzero(members)
    if chosen.size < 2 or count < 1:
        return []
    envelopes = [band_envelopes(prints[i], pool_frames, bands) for i in chosen]
    length = max(e.shape[0] for e in envelopes)
    if length < 2:
        return []
    stacked = np.zeros((chosen.size, length, bands), dtype=np.float32)
    for row, envelope in enumerate(envelopes):
        stacked[row, :envelope.shape[0]] = envelope
    # running sums over frames (per band, and of squares over the bands): each lag's overlap sums in O(1)
    zeros = np.zeros((chosen.size, 1, bands))
    sums = np.concatenate([zeros, np.cumsum(stacked, axis=1, dtype=np.float64)], axis=1)
    squares = np.concatenate([zeros[:, :, 0], np.cumsum((stacked.astype(np.float64) ** 2).sum(axis=2), axis=1)], axis=1)
    block_of = np.asarray(blocks)[chosen]
    max_lag = min(max_lag_frames, length // 2)  # an overlap of at least half the longest clip
    found: dict[tuple[int, int], tuple[int, float]] = {}
    for start in range(0, chosen.size, rows_per_block):
        rows = slice(start, min(chosen.size, start + rows_per_block))
        best = np.full((rows.stop - rows.start, chosen.size), -np.inf, dtype=np.float32)
        best_lag = np.zeros(best.shape, dtype=np.int16)
        better = np.zeros(best.shape, dtype=bool)
        for lag in range(-max_lag, max_lag + 1):
            a0, a1 = max(0, -lag), length - max(0, lag)  # frames of the first clip that meet the second's at this lag
            b0, b1, frames = a0 + lag, a1 + lag, a1 - a0
            first = stacked[rows, a0:a1].reshape(rows.stop - rows.start, -1)
            second = stacked[:, b0:b1].reshape(chosen.size, -1)
            sum_first, sum_second = sums[rows, a1] - sums[rows, a0], sums[:, b1] - sums[:, b0]  # (clips, bands)
            var_first = squares[rows, a1] - squares[rows, a0] - (sum_first**2).sum(axis=1) / frames
            var_second = squares[:, b1] - squares[:, b0] - (sum_second**2).sum(axis=1) / frames
            cross = first @ second.T - (sum_first @ sum_second.T / frames).astype(np.float32)
            scale = 1.0 / np.sqrt(np.maximum(var_first, 1e-6))[:, None] / np.sqrt(np.maximum(var_second, 1e-6))[None, :]
            value = cross * scale.astype(np.float32)
            np.greater(value, best, out=better)
            np.copyto(best, value, where=better)
            np.copyto(best_lag, np.int16(lag), where=better)
        best[block_of[rows, None] == block_of[None, :]] = -np.inf  # one block (and the clip itself): never a leak
        top = np.argsort(-best, axis=1, kind="stable")[:, :count]
        for offset, partners in enumerate(top):
            row = rows.start + offset
            for partner in partners:
                value = float(best[offset, partner])
                if not np.isfinite(value):
                    continue
                lag = int(best_lag[offset, partner])
                i, j = int(chosen[row]), int(chosen[partner])
                pair, pair_lag = ((i, j), lag) if i < j else ((j, i), -lag)
                if pair not in found or value > found[pair][1]:
                    found[pair] = (pair_lag, value)
    return [(i, j, lag, value) for (i, j), (lag, value) in sorted(found.items())]
