"""The `logmel` kind: `sonolab.audio.features.FeatureSettings` and its dB-re-unity log-mel matrices.

The cache keeps this kind's historical layout, `(n_mels, frames)` per item (`FeatureCache`);
`extract` returns the common orientation `(n_vectors=frames, dim=n_mels)`.

`log_mel_re_unity_batch_cpu` computes many clips at once, one numpy FFT call per group of similar
lengths, in float64. Written by hand (with librosa's own mel filter bank) because the libraries that
do it cost more to import than the work itself on a few hundred short clips: torch (the batched path
in `sonolab.audio.fast_features`) takes seconds to import, and `librosa.feature` / `librosa.stft`
load numba-compiled modules for ~3 s per fresh process, paid again by every worker process that has
not inherited them (measured in docs/benchmarks.md, "Feature extraction"). It equals
`log_mel_re_unity` (librosa) within 1e-3 dB (tested). Zero-padding a waveform inside a batch and
trimming to `1 + n_samples // hop` frames is exact for centred frames with constant padding (the
argument is in `sonolab.audio.fast_features`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from sonolab.audio.features import FeatureSettings, log_mel_re_unity, mel_filter_weights, power_to_db_re_unity

Settings = FeatureSettings
EXTRACT_IN_WORKERS = True
MAX_BATCH_SAMPLES = 2**20  # zero-padded samples per FFT call: frames x n_fft float64 stays ~10-70 MB


def require() -> None:
    """No optional dependency."""


def decode_sample_rate_hz(settings: FeatureSettings) -> int:
    return int(settings.sample_rate_hz)


def extract(waveform_mono: np.ndarray, sample_rate_hz: int, settings: FeatureSettings) -> np.ndarray:
    """`(frames, n_mels)` float32 dB re unity (the transpose of what the cache stores)."""
    return np.ascontiguousarray(log_mel_re_unity(waveform_mono, sample_rate_hz, settings).T, dtype=np.float32)


def length_groups(lengths: Sequence[int], batch_size: int, max_batch_samples: int) -> list[list[int]]:
    """Indices sorted by length, cut into groups of at most `batch_size` whose padded size stays bounded."""
    order = sorted(range(len(lengths)), key=lambda index: lengths[index])
    groups: list[list[int]] = []
    current: list[int] = []
    for index in order:
        if current and (len(current) + 1 > batch_size or (len(current) + 1) * lengths[index] > max_batch_samples):
            groups.append(current)
            current = []
        current.append(index)
    if current:
        groups.append(current)
    return groups


@functools.lru_cache(maxsize=16)
def _analysis(settings: FeatureSettings) -> tuple[np.ndarray, np.ndarray]:
    """(window of n_fft samples, mel bank (n_mels, 1 + n_fft // 2)) exactly as librosa's melspectrogram uses them."""
    length = settings.win_length_samples or settings.n_fft
    # The periodic Hann window (scipy.signal.get_window("hann", length, fftbins=True)), centred in n_fft
    # like librosa.util.pad_center: one line of numpy instead of importing scipy.signal.
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)
    left = (settings.n_fft - length) // 2
    window = np.pad(window, (left, settings.n_fft - length - left))
    bank = mel_filter_weights(settings)  # the settings' mel scale and filter normalisation (slaney or htk / unit_sum)
    return window, bank.astype(np.float64)


def _mel_power_padded(padded: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """Mel power `(rows, n_mels, frames)` of equal-length float64 rows: centred frames, zero padding."""
    window, bank = _analysis(settings)
    n_fft, hop = settings.n_fft, settings.hop_length_samples
    signal = np.pad(padded, ((0, 0), (n_fft // 2, n_fft // 2)))
    frames = np.lib.stride_tricks.sliding_window_view(signal, n_fft, axis=1)[:, ::hop]  # (rows, frames, n_fft)
    spectrum = np.fft.rfft(frames * window, axis=-1)
    if settings.power == 2.0:
        power = spectrum.real**2 + spectrum.imag**2
    else:
        power = np.abs(spectrum) ** settings.power
    rows, n_frames, bins = power.shape  # one 2-D product: numpy's stacked matmul is ~50x slower here
    return (power.reshape(rows * n_frames, bins) @ bank.T).reshape(rows, n_frames, -1).transpose(0, 2, 1)


def log_mel_re_unity_batch_cpu(waveforms: Sequence[np.ndarray], settings: FeatureSettings, batch_size: int = 32) -> list[np.ndarray]:
    """dB-re-unity log-mels `(n_mels, frames)` float32 of mono waveforms at `settings.sample_rate_hz`."""
    lengths = [int(np.shape(waveform)[-1]) for waveform in waveforms]
    for index, waveform in enumerate(waveforms):
        if np.ndim(waveform) != 1 or lengths[index] == 0:
            raise ValueError(f"waveform {index} must be mono and non-empty, got shape {np.shape(waveform)}")
        if not np.all(np.isfinite(waveform)):
            raise ValueError(f"waveform {index} contains NaN or infinite samples")
    results: list[np.ndarray | None] = [None] * len(waveforms)
    hop = settings.hop_length_samples
    for group in length_groups(lengths, batch_size, MAX_BATCH_SAMPLES):
        padded = np.zeros((len(group), max(lengths[index] for index in group)), dtype=np.float64)
        for row, index in enumerate(group):
            waveform = waveforms[index]
            if settings.peak_normalise:  # as `mel_power` does (the aisfx input)
                from sonolab.audio.aisfx_input import peak_normalise

                waveform = peak_normalise(np.asarray(waveform, dtype=np.float32))
            padded[row, : lengths[index]] = waveform
        db = power_to_db_re_unity(_mel_power_padded(padded, settings), settings)
        for row, index in enumerate(group):
            results[index] = np.ascontiguousarray(db[row, :, : 1 + lengths[index] // hop])
    return results  # type: ignore[return-value]
