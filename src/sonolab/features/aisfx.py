"""The `aisfx` kind: per-block embeddings of the pretrained aisfx sound-effects CNN (Ma & Lerch, 2022).

The network lives in `sonolab.models.aisfx` (`embed_blocks(waveform_mono, sample_rate_hz,
batch_size) -> (n_blocks, 512)`); it is imported only when this kind extracts. Its input is 44.1 kHz
mono, so the cache decodes at that rate. Pooling per clip: `mean_max` (mean and max over blocks,
1,024-d), `mean` (512-d), or `sequence` (the blocks kept, `(n_blocks, 512)`).
Extraction runs in the main process (`EXTRACT_IN_WORKERS = False`): the model is loaded once there,
while worker processes decode and resample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sonolab.audio.io import resample
from sonolab.errors import ConfigError
from sonolab.features.settings import KindSettings

EXTRACT_IN_WORKERS = False
SAMPLE_RATE_HZ = 44100
EMBEDDING_DIM = 512
POOLINGS = ("mean_max", "mean", "sequence")
Embedder = Callable[[np.ndarray, int, int], np.ndarray]


@dataclass(frozen=True)
class Settings(KindSettings):
    kind = "aisfx"
    algorithm_version = 1

    pooling: str = "mean_max"
    batch_size: int = 32  # blocks per forward pass: speed only, not part of the fingerprint

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ConfigError(f"aisfx pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.batch_size < 1:
            raise ConfigError(f"aisfx batch_size must be at least 1, got {self.batch_size}")

    def cache_fingerprint(self) -> str:  # batch_size does not change the embeddings
        import hashlib
        import json

        payload = {"kind": self.kind, "algorithm_version": self.algorithm_version, "pooling": self.pooling}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def require() -> None:
    """ConfigError when the network's module cannot be loaded (checked once, before any clip)."""
    try:
        _default_embedder()
    except ImportError as error:
        raise ConfigError(
            f"the aisfx feature kind needs sonolab.models.aisfx, which this installation lacks ({error}) "
            "(fix: update sonolab, or choose another feature kind)"
        ) from None


def decode_sample_rate_hz(settings: Settings) -> int:
    return SAMPLE_RATE_HZ


def _default_embedder() -> Embedder:
    from sonolab.models.aisfx import embed_blocks  # torch and the weights load only here

    return embed_blocks


def pool_blocks(blocks: np.ndarray, pooling: str) -> np.ndarray:
    """`(n_blocks, 512)` -> `(1, 1024)` (mean_max), `(1, 512)` (mean) or the blocks (sequence)."""
    blocks = np.asarray(blocks, dtype=np.float32)
    if blocks.ndim != 2 or blocks.shape[0] == 0:
        raise ValueError(f"aisfx embeddings must be (n_blocks >= 1, dim), got shape {blocks.shape}")
    if pooling == "mean_max":
        return np.concatenate([blocks.mean(axis=0), blocks.max(axis=0)])[np.newaxis, :]
    if pooling == "mean":
        return blocks.mean(axis=0, keepdims=True)
    if pooling == "sequence":
        return np.ascontiguousarray(blocks)
    raise ConfigError(f"aisfx pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")


def extract(waveform_mono: np.ndarray, sample_rate_hz: int, settings: Settings, embed_blocks: Embedder | None = None) -> np.ndarray:
    """Pooled aisfx embeddings of one clip (`embed_blocks` injects another embedder, e.g. in tests)."""
    y = np.asarray(waveform_mono, dtype=np.float32)
    if int(sample_rate_hz) != SAMPLE_RATE_HZ:
        y = resample(y[np.newaxis, :], int(sample_rate_hz), SAMPLE_RATE_HZ)[0]
    embedder = embed_blocks or _default_embedder()
    blocks = embedder(y, SAMPLE_RATE_HZ, settings.batch_size)
    return pool_blocks(blocks, settings.pooling).astype(np.float32, copy=False)
