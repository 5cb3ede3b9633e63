"""The `musicnn` feature kind: the pretrained MSD musicnn (Pons & Serra 2019, ISC licence) per 3 s patch -
its penultimate embedding (200-d), its taggram (50 MSD tags, several of them moods), or both - pooled per clip.

Extraction runs the network in the main process (`EXTRACT_IN_WORKERS = False`): one model, torch's own threads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sonolab.errors import ConfigError
from sonolab.features.settings import KindSettings

EXTRACT_IN_WORKERS = False
OUTPUTS = ("embedding", "taggram", "both")
POOLINGS = ("mean_max", "mean", "mean_std", "sequence")
SAMPLE_RATE_HZ = 16000


@dataclass(frozen=True)
class Settings(KindSettings):
    kind = "musicnn"
    algorithm_version = 1

    output: str = "both"  # embedding (200) | taggram (50) | both (250) per patch
    pooling: str = "mean_max"  # over a clip's patches; sequence keeps one row per patch

    def __post_init__(self) -> None:
        if self.output not in OUTPUTS:
            raise ConfigError(f"musicnn output must be one of {', '.join(OUTPUTS)}, got {self.output!r}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"musicnn pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")


def require() -> None:
    """The weights ship inside the package: nothing to install."""


def decode_sample_rate_hz(settings: Settings) -> int:
    return SAMPLE_RATE_HZ


def extract(waveform_mono: np.ndarray, sample_rate_hz: int, settings: Settings) -> np.ndarray:
    """`(1, dim)` pooled over patches (or `(n_patches, dim)` for `sequence`), float32."""
    from sonolab.models.musicnn import taggram_and_embeddings

    taggram, embedding = taggram_and_embeddings(waveform_mono, sample_rate_hz)
    per_patch = {"embedding": embedding, "taggram": taggram, "both": np.concatenate([embedding, taggram], axis=1)}[settings.output]
    per_patch = np.asarray(per_patch, dtype=np.float32)
    if settings.pooling == "sequence":
        return per_patch
    from sonolab.features.pooling import clip_vector

    return clip_vector(per_patch, settings.pooling)[np.newaxis, :]
