"""Exact content identity of audio: a hash of the decoded samples.

Decoded-sample hashing (rather than file bytes) finds copies saved with other headers or containers.
Copies that were processed (re-cut, noisy, re-encoded, pitch-shifted, ...) are found by
`sonolab.data.content_index` instead.
"""

from __future__ import annotations

import hashlib

import numpy as np


def samples_hash(audio: np.ndarray, sample_rate_hz: int) -> str:
    """SHA-256 of float32 decoded samples, their shape and sample rate."""
    samples = np.ascontiguousarray(audio, dtype=np.float32)
    digest = hashlib.sha256()
    digest.update(f"{samples.shape}|{int(sample_rate_hz)}|".encode())
    digest.update(samples.tobytes())
    return digest.hexdigest()
