"""Fit feature matrices and waveforms to a fixed length with a named crop strategy.

Feature padding uses the dB floor (the value silence takes), never 0 dB, which would be the loudest
possible value under a max reference; the number of padded frames is reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from sonolab.errors import ConfigError

CropStrategy = Literal["first", "middle", "random", "max_energy"]
CROP_STRATEGIES: tuple[str, ...] = ("first", "middle", "random", "max_energy")


@dataclass(frozen=True)
class FittedFrames:
    """A feature matrix fitted to the target length, with where it came from."""

    features: np.ndarray  # (n_mels, target_frames)
    start_frame: int  # first source frame kept (0 when padded)
    padded_frames: int  # frames filled with the floor value


def _crop_start(length: int, target: int, strategy: str, rng: np.random.Generator | None, energy: np.ndarray | None) -> int:
    excess = length - target
    if strategy == "first":
        return 0
    if strategy == "middle":
        return excess // 2
    if strategy == "random":
        if rng is None:
            raise ConfigError("crop strategy 'random' needs a seeded numpy Generator (rng=np.random.default_rng(seed))")
        return int(rng.integers(0, excess + 1))
    if strategy == "max_energy":
        if energy is None:
            raise ValueError("max_energy needs a per-step energy")
        cumulative = np.concatenate([[0.0], np.cumsum(energy, dtype=np.float64)])
        window_sums = cumulative[target:] - cumulative[:-target]
        return int(np.argmax(window_sums))
    raise ConfigError(f"crop strategy must be one of {', '.join(CROP_STRATEGIES)}, got {strategy!r}")


def fit_frames(
    features: np.ndarray,
    target_frames: int,
    floor_db: float,
    strategy: str = "middle",
    rng: np.random.Generator | None = None,
) -> FittedFrames:
    """Crop or pad a `(n_mels, frames)` dB matrix to `target_frames`.

    Longer inputs are cropped by `strategy` (`max_energy` keeps the window with the most power);
    shorter ones are padded at the end with `floor_db`.
    """
    if target_frames <= 0:
        raise ConfigError(f"target_frames must be positive, got {target_frames}")
    length = features.shape[-1]
    if length >= target_frames:
        energy = None
        if strategy == "max_energy":
            energy = np.sum(np.power(10.0, features.astype(np.float64) / 10.0), axis=0)
        start = _crop_start(length, target_frames, strategy, rng, energy)
        return FittedFrames(np.ascontiguousarray(features[..., start : start + target_frames]), start, 0)
    padded = target_frames - length
    pad_width = [(0, 0)] * (features.ndim - 1) + [(0, padded)]
    return FittedFrames(np.pad(features, pad_width, mode="constant", constant_values=floor_db).astype(features.dtype), 0, padded)


@dataclass(frozen=True)
class FittedSamples:
    """A waveform fitted to the target length, with where it came from."""

    audio: np.ndarray  # (channels, target_samples)
    start_sample: int
    padded_samples: int  # zeros appended


def fit_samples(
    audio: np.ndarray,
    target_samples: int,
    strategy: str = "middle",
    rng: np.random.Generator | None = None,
) -> FittedSamples:
    """Crop or zero-pad `(channels, samples)` audio to `target_samples` (silence is 0 in the waveform)."""
    if target_samples <= 0:
        raise ConfigError(f"target_samples must be positive, got {target_samples}")
    length = audio.shape[-1]
    if length >= target_samples:
        energy = np.mean(np.square(audio, dtype=np.float64), axis=0) if strategy == "max_energy" else None
        start = _crop_start(length, target_samples, strategy, rng, energy)
        return FittedSamples(np.ascontiguousarray(audio[..., start : start + target_samples]), start, 0)
    padded = target_samples - length
    pad_width = [(0, 0)] * (audio.ndim - 1) + [(0, padded)]
    return FittedSamples(np.pad(audio, pad_width).astype(audio.dtype), 0, padded)
