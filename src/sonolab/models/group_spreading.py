"""Transductive label spreading inside each group (speaker): a classifier's probabilities for a group's clips are
smoothed over a nearest-neighbour graph of that group's own clips, so that clips which sound alike (one speaker's
takes of one word) end up with one label.

It follows "Learning with local and global consistency" (Zhou et al., NIPS 2004): with S the symmetrically
normalised affinity matrix of the group's kNN graph and P0 the classifier's probabilities, the spread scores are
F = (1 - alpha) (I - alpha S)^-1 P0, the fixed point of F <- alpha S F + (1 - alpha) P0. scikit-learn's
`LabelSpreading` implements the same iteration but takes hard labels of a labelled subset as its prior, not a
classifier's probabilities for every row, so the closed form is written here (a linear solve per group).

No label enters, and no other group's rows: a group's output depends only on its own features and its own
probabilities. For a test group this uses its unlabelled recordings (transductive, as `per_group_standardise`);
a report that used it must say so (`NOTE`). Features are standardised within the group before the graph is built,
so a speaker's microphone and voice level do not decide who is whose neighbour. With `graph: inputs+probabilities`
the classifier's own log-probabilities join the graph's features, so that neighbours are also clips the model
finds alike (the classifier's view of the clip, as label propagation on network embeddings does; still no label).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from sonolab.errors import ConfigError

NOTE = ("group label spreading: each test group's predictions were smoothed over a nearest-neighbour graph of that "
        "group's own unlabelled recordings (transductive; no label and no other group used)")
PREDICT_NOTE = "group label spreading: the given files' predictions were spread over a graph of these files, as one group"
REPORT_NOTE = NOTE[0].upper() + NOTE[1:] + "."  # the sentence a run's summary notes (and so its report) carry
MIN_STD = 1e-8
GRAPHS = ("inputs", "inputs+probabilities")  # what the kNN graph is built from (see `graph_features`)
PROBABILITY_FLOOR = 1e-6  # added before the log, so a zero probability gives a finite feature


@dataclass(frozen=True)
class SpreadingSettings:
    """`neighbours`: k of the kNN graph (fewer when a group is smaller); `alpha` in (0, 1): how much a clip takes
    from its neighbours (0 would keep the classifier's own probabilities); `graph`: the task's input features of
    each clip (`inputs`), or those and the classifier's log-probabilities (`inputs+probabilities`)."""

    neighbours: int = 5
    alpha: float = 0.8
    graph: str = "inputs"

    def __post_init__(self) -> None:
        if int(self.neighbours) < 1:
            raise ConfigError(f"group_spreading.neighbours must be >= 1, got {self.neighbours!r}")
        if not 0.0 < float(self.alpha) < 1.0:
            raise ConfigError(f"group_spreading.alpha must be in (0, 1), got {self.alpha!r}")
        if self.graph not in GRAPHS:
            raise ConfigError(f"group_spreading.graph must be one of {', '.join(GRAPHS)}, got {self.graph!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def spreading_settings(section: dict[str, Any] | None) -> SpreadingSettings | None:
    """The recipe's `group_spreading` section as settings, or None when it is off."""
    if not section or not section.get("enabled"):
        return None
    return SpreadingSettings(**{key: section[key] for key in ("neighbours", "alpha", "graph") if key in section})


def spreading_requested(recipe: dict[str, Any]) -> bool:
    """Whether the recipe, or any trial of its sweep, turns `group_spreading` on."""
    swept = (recipe.get("sweep") or {}).get("group_spreading.enabled") or []
    return bool((recipe.get("group_spreading") or {}).get("enabled")) or any(bool(value) for value in swept)


def require_shared_groups(groups: Sequence[Any], dataset: str) -> None:
    """Refuse spreading on data whose groups hold one clip each: a graph of one clip smooths nothing, so the run
    would report spreading that changed no prediction (e.g. a `folder` dataset without a group column)."""
    counts: dict[str, int] = {}
    for group in groups:
        counts[str(group)] = counts.get(str(group), 0) + 1
    if not counts or max(counts.values()) < 2:
        raise ConfigError(f"group_spreading: every group of the {dataset} data holds one clip, so spreading within "
                          "groups would change nothing (fix: give the data a group column, e.g. the speaker, or set "
                          "group_spreading.enabled: false)")


def saved_spreading(meta: dict[str, Any]) -> SpreadingSettings | None:
    """The settings a saved model was scored with (its model.json's `group_spreading`), or None."""
    saved = meta.get("group_spreading")
    return SpreadingSettings(**saved) if saved else None


def _affinity(features: np.ndarray, neighbours: int) -> np.ndarray:
    """Symmetric kNN affinity with Gaussian weights; the width is the median distance to the k neighbours."""
    from sklearn.neighbors import NearestNeighbors

    k = min(neighbours, len(features) - 1)
    distances, indices = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)
    distances, indices = distances[:, 1:], indices[:, 1:]  # drop each row itself
    width = float(np.median(distances)) or 1.0
    weights = np.zeros((len(features), len(features)))
    np.put_along_axis(weights, indices, np.exp(-((distances / width) ** 2)), axis=1)
    return np.maximum(weights, weights.T)


def graph_features(probabilities: np.ndarray, features: np.ndarray, settings: SpreadingSettings) -> np.ndarray:
    """The rows the kNN graph is built from: the features, with `inputs+probabilities` also log(p + floor)."""
    matrix = np.asarray(features, dtype=np.float64)
    if settings.graph == "inputs+probabilities":
        matrix = np.concatenate([matrix, np.log(probabilities + PROBABILITY_FLOOR)], axis=1)
    return matrix


def spread_group(probabilities: np.ndarray, features: np.ndarray, settings: SpreadingSettings) -> np.ndarray:
    """One group's spread probabilities `(n, classes)` (rows sum to 1) from its probabilities and features `(n, dim)`."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if len(probabilities) < 2:
        return probabilities.copy()
    matrix = graph_features(probabilities, features, settings)
    matrix = (matrix - matrix.mean(axis=0)) / np.maximum(matrix.std(axis=0), MIN_STD)
    weights = _affinity(matrix, settings.neighbours)
    degree = np.sqrt(np.maximum(weights.sum(axis=1), MIN_STD))
    normalised = weights / degree[:, None] / degree[None, :]
    spread = (1.0 - settings.alpha) * np.linalg.solve(np.eye(len(matrix)) - settings.alpha * normalised, probabilities)
    spread = np.clip(spread, 0.0, None)
    return spread / np.maximum(spread.sum(axis=1, keepdims=True), MIN_STD)


def spread_within_groups(probabilities: np.ndarray, features: np.ndarray, groups: Sequence[Any],
                         settings: SpreadingSettings) -> np.ndarray:
    """Every group's rows spread on their own (`groups`: one id per row); the rows keep their order."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    features = np.asarray(features)
    group_ids = np.asarray([str(group) for group in groups])
    if not len(probabilities) == len(features) == len(group_ids):
        raise ValueError(f"probabilities, features and groups disagree: {len(probabilities)}, {len(features)}, {len(group_ids)} rows")
    spread = probabilities.copy()
    for group in np.unique(group_ids):
        rows = np.flatnonzero(group_ids == group)
        spread[rows] = spread_group(probabilities[rows], features[rows], settings)
    return spread
