"""Contributor splits whose vocabulary is decided on the training contributors only.

The SAFE-DB file is loaded with every term (`min_count_per_term=1`); whole contributors are held out
(`grouped_holdout`); a term is then kept when the *training* contributors used it at least
`min_count_per_term` times. Counting over all rows first would keep a term because of its held-out rows
(e.g. 4 training + 3 held-out rows), which lets the held-out data choose what is evaluated.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from sonolab.data.safe import SafeDataset, grouped_holdout


def training_vocabulary(dataset: SafeDataset, train_index: np.ndarray, min_count_per_term: int) -> list[str]:
    """Terms with at least `min_count_per_term` training rows, most frequent first (then by name)."""
    counts = Counter(dataset.rows[i].term for i in train_index)
    return sorted((t for t, c in counts.items() if c >= min_count_per_term), key=lambda t: (-counts[t], t))


def vocabulary_split(
    dataset: SafeDataset, holdout_fraction: float, seed: int, min_count_per_term: int
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(training rows, held-out rows, vocabulary): both index arrays keep only vocabulary terms."""
    train_index, holdout_index = grouped_holdout(dataset, holdout_fraction, seed)
    vocabulary = training_vocabulary(dataset, train_index, min_count_per_term)
    labels = dataset.labels()
    keep = np.isin(labels, vocabulary)
    return train_index[keep[train_index]], holdout_index[keep[holdout_index]], vocabulary
