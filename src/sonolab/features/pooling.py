"""Turn a cached `(n_vectors, dim)` array into one clip vector for the classical heads."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from sonolab.errors import ConfigError

POOLINGS = ("auto", "mean", "mean_max", "mean_std", "single")


def clip_vector(vectors: np.ndarray, pooling: str = "auto") -> np.ndarray:
    """One float32 vector from `(n_vectors, dim)` (or an already flat `(dim,)`).

    `auto`: the row itself when n_vectors is 1 (clip-level kinds), else the mean over vectors;
    `mean` -> dim; `mean_max` and `mean_std` -> 2*dim (concatenated); `single` insists on one row.
    For a log-mel matrix `(n_mels, frames)` from `FeatureCache`, pass its transpose.
    """
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim == 1:
        array = array[np.newaxis, :]
    if array.ndim != 2 or array.shape[0] == 0:
        raise ValueError(f"expected (n_vectors >= 1, dim), got shape {np.shape(vectors)}")
    if pooling == "single" or (pooling == "auto" and array.shape[0] == 1):
        if array.shape[0] != 1:
            raise ValueError(f"pooling 'single' needs exactly one vector per clip, got {array.shape[0]}")
        return array[0].copy()
    if pooling in ("auto", "mean"):
        return array.mean(axis=0)
    if pooling == "mean_max":
        return np.concatenate([array.mean(axis=0), array.max(axis=0)])
    if pooling == "mean_std":
        return np.concatenate([array.mean(axis=0), array.std(axis=0)])
    raise ConfigError(f"unknown clip pooling {pooling!r} (fix: use one of {', '.join(POOLINGS)})")


def clip_matrix(read: Callable[[str], np.ndarray], item_ids: Sequence[str], pooling: str = "auto") -> np.ndarray:
    """`(len(item_ids), dim')` float32: `clip_vector(read(item_id), pooling)` stacked in the given order."""
    if not item_ids:
        raise ValueError("clip_matrix needs at least one item id")
    return np.stack([clip_vector(read(item_id), pooling) for item_id in item_ids])
