"""Per-group (per-speaker) feature standardisation, computed without labels.

`per_group_standardise` gives each group's clip vectors zero mean and unit variance per dimension
using that group's own statistics only. No label enters, and no other group's rows: a group's output
depends on nothing but its own features. For a test group (speaker) the statistics come from its
own unlabelled recordings, which is transductive: the result says so (`transductive`), and a report
that used it must state it. `group_band_statistics` does the same for spectrograms (per mel band, over
all of a group's frames), for the networks of the classification task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from sonolab.errors import ConfigError

GROUP_NORMALISATIONS = ("none", "per_group_standardise")
MIN_STD = 1e-8  # a dimension constant within a group (or a one-row group) is centred, not scaled up


@dataclass
class GroupStandardised:
    features: np.ndarray  # (n, dim) float32, each group standardised by its own mean and std
    transductive: bool  # True when a test group's statistics came from its own unlabelled rows
    transductive_groups: list[str] = field(default_factory=list)
    group_sizes: dict[str, int] = field(default_factory=dict)

    @property
    def note(self) -> str:
        """The sentence a report prints."""
        if not self.transductive:
            return "features standardised per group with each group's own mean and std (no labels used)"
        return (
            "features standardised per group with each group's own mean and std, computed without labels; for the "
            f"test group(s) {', '.join(self.transductive_groups)} this used their own unlabelled recordings (transductive)"
        )


def per_group_standardise(features: np.ndarray, groups: Iterable, test_groups: Iterable = (), min_std: float = MIN_STD) -> GroupStandardised:
    """Standardise the rows of `features` `(n, dim)` group by group (`groups`: one id per row).

    `test_groups` names the groups held out for testing (their statistics are transductive); it
    changes no value, only the flag and the note.
    """
    matrix = np.asarray(features, dtype=np.float64)
    group_ids = np.asarray([str(group) for group in groups])
    if matrix.ndim != 2 or len(group_ids) != len(matrix):
        raise ValueError(f"features (n, dim) and groups (n,) disagree: {matrix.shape} vs {group_ids.shape}")
    output = np.empty_like(matrix)
    sizes: dict[str, int] = {}
    for group in np.unique(group_ids):
        rows = group_ids == group
        block = matrix[rows]
        std = block.std(axis=0)
        output[rows] = (block - block.mean(axis=0)) / np.where(std > min_std, std, 1.0)
        sizes[str(group)] = int(rows.sum())
    held_out = sorted({str(group) for group in test_groups} & set(sizes))
    return GroupStandardised(output.astype(np.float32), bool(held_out), held_out, sizes)


def check_group_normalisation(name: str) -> str:
    """Validate a recipe's `features.group_normalisation` value."""
    if name not in GROUP_NORMALISATIONS:
        raise ConfigError(f"features.group_normalisation must be one of {', '.join(GROUP_NORMALISATIONS)}, got {name!r}")
    return name


@dataclass(frozen=True)
class BandStatistics:
    """One group's per-band mean and std (dB) over every frame of its `(bands, frames)` spectrograms."""

    mean: np.ndarray  # (bands,)
    std: np.ndarray  # (bands,), MIN_STD where a band is constant

    def standardise(self, framed: np.ndarray) -> np.ndarray:
        """`(bands, frames)` -> each band with this group's zero mean and unit variance (float32)."""
        return ((framed - self.mean[:, None]) / self.std[:, None]).astype(np.float32)


def band_statistics(matrices: Iterable[np.ndarray], min_std: float = MIN_STD) -> BandStatistics:
    """Per-band mean and std over all frames of one group's `(bands, frames)` matrices (no labels; padding
    is not part of them, silence inside a recording is)."""
    total = squares = None
    frames = 0
    for matrix in matrices:
        values = np.asarray(matrix, dtype=np.float64)
        total = values.sum(axis=1) if total is None else total + values.sum(axis=1)
        squares = (values**2).sum(axis=1) if squares is None else squares + (values**2).sum(axis=1)
        frames += values.shape[1]
    if total is None or frames == 0:
        raise ValueError("a group without frames has no band statistics")
    mean = total / frames
    std = np.sqrt(np.maximum(squares / frames - mean**2, 0.0))
    return BandStatistics(mean, np.where(std > min_std, std, 1.0))


def group_band_statistics(matrix_of: Callable[[str], np.ndarray], groups_by_id: Mapping[str, str],
                          item_ids: Iterable[str]) -> dict[str, BandStatistics]:
    """Each group's `BandStatistics` from its own items among `item_ids` (`matrix_of(item_id)` reads one)."""
    members: dict[str, list[str]] = {}
    for item_id in item_ids:
        members.setdefault(str(groups_by_id.get(item_id, item_id)), []).append(item_id)
    return {group: band_statistics(matrix_of(item_id) for item_id in ids) for group, ids in members.items()}
