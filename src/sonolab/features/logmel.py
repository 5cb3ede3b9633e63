"""The `logmel` kind: `sonolab.audio.features.FeatureSettings` and its dB-re-unity log-mel matrices.

The cache keeps this kind's historical layout, `(n_mels, frames)` per item (`FeatureCache`);
`extract` returns the common orientation `(n_vectors=frames, dim=n_mels)`.

`log_mel_re_unity_batch_cpu` computes many clips at once with one batched librosa call per group of
similar lengths, in float64 and without torch: importing torch costs seconds, which is longer than
computing the log-mels of a few hundred short clips (see docs/benchmarks.md, "Feature extraction").
Zero-padding a waveform inside a batch and trimming to `1 + n_samples // hop` frames is exact for
centred frames with constant padding (the argument is in `sonolab.audio.fast_features`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import librosa
import numpy as np

from sonolab.audio.features import FeatureSettings, log_mel_re_unity, power_to_db_re_unity

Settings = FeatureSettings
EXTRACT_IN_WORKERS = True
MAX_BATCH_SAMPLES = 2**21  # zero-padded samples per librosa call (~16 MB of float64 input)


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


def log_mel_re_unity_batch_cpu(waveforms: Sequence[np.ndarray], settings: FeatureSettings, batch_size: int = 32) -> list[np.ndarray]:
    """dB-re-unity log-mels `(n_mels, frames)` float32 of mono waveforms at `settings.sample_rate_hz`."""
    lengths = [int(np.shape(waveform)[-1]) for waveform in waveforms]
    for index, waveform in enumerate(waveforms):
        if np.ndim(waveform) != 1 or lengths[index] == 0:
            raise ValueError(f"waveform {index} must be mono and non-empty, got shape {np.shape(waveform)}")
    results: list[np.ndarray | None] = [None] * len(waveforms)
    hop = settings.hop_length_samples
    for group in length_groups(lengths, batch_size, MAX_BATCH_SAMPLES):
        padded = np.zeros((len(group), max(lengths[index] for index in group)), dtype=np.float64)
        for row, index in enumerate(group):
            padded[row, : lengths[index]] = waveforms[index]
        with warnings.catch_warnings():  # "n_fft too large" for clips shorter than n_fft: padding is intended
            warnings.simplefilter("ignore", UserWarning)
            power = librosa.feature.melspectrogram(
                y=padded, sr=settings.sample_rate_hz, n_fft=settings.n_fft, hop_length=hop,
                win_length=settings.win_length_samples, n_mels=settings.n_mels, fmin=settings.min_frequency_hz,
                fmax=settings.max_frequency_hz, power=settings.power, center=True, pad_mode="constant",
            )
        db = power_to_db_re_unity(power, settings)
        for row, index in enumerate(group):
            results[index] = np.ascontiguousarray(db[row, :, : 1 + lengths[index] // hop])
    return results  # type: ignore[return-value]
