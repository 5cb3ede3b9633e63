"""Valence/arousal regression metrics, quadrants from signs around the scale's midpoint, and figures.

Per dimension: MAE, RMSE, R² (scikit-learn), Pearson r (SciPy) and Lin's concordance correlation
coefficient (CCC; no library in the stack ships it, so it is written out below). Quadrants follow
Russell's circumplex as MERGE labels them: Q1 = +arousal +valence, Q2 = +arousal -valence,
Q3 = -arousal -valence, Q4 = -arousal +valence.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
)

from sonolab.atomic import save_figure_atomic
from sonolab.evaluate.metrics import balanced_accuracy, macro_f1

QUADRANTS: tuple[str, ...] = ("Q1", "Q2", "Q3", "Q4")
DIMENSION_METRICS: tuple[str, ...] = ("mae", "rmse", "r2", "pearson_r", "ccc")
EMOTION_METRICS: tuple[str, ...] = (
    "accuracy", "balanced_accuracy", "macro_f1", "quadrant_accuracy", "quadrant_macro_f1", "mean_ccc",
    *(f"{dimension}_{name}" for dimension in ("arousal", "valence") for name in DIMENSION_METRICS),
)


def concordance_correlation(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Lin's CCC = 2 cov / (var_true + var_pred + (mean_true - mean_pred)^2), population moments."""
    true = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    covariance = np.mean((true - true.mean()) * (pred - pred.mean()))
    denominator = true.var() + pred.var() + (true.mean() - pred.mean()) ** 2
    return float(2.0 * covariance / denominator) if denominator > 0 else 0.0


def dimension_metrics(y_true: Sequence[float], y_pred: Sequence[float]) -> dict[str, float]:
    """MAE, RMSE, R², Pearson r and CCC of one dimension."""
    true = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    if true.shape != pred.shape or true.size == 0:
        raise ValueError(f"need equal, non-empty arrays, got {true.shape} and {pred.shape}")
    constant = np.ptp(true) == 0 or np.ptp(pred) == 0
    return {
        "mae": float(mean_absolute_error(true, pred)),
        "rmse": float(np.sqrt(mean_squared_error(true, pred))),
        "r2": float(r2_score(true, pred)) if true.size > 1 else float("nan"),
        "pearson_r": float("nan") if constant or true.size < 2 else float(stats.pearsonr(true, pred).statistic),
        "ccc": concordance_correlation(true, pred),
    }


def quadrants_from_av(arousal: Sequence[float], valence: Sequence[float], midpoint: float) -> list[str]:
    """Quadrant of each (arousal, valence) pair from its signs around `midpoint` (ties count as positive)."""
    high_arousal = np.asarray(arousal, dtype=np.float64) >= midpoint
    high_valence = np.asarray(valence, dtype=np.float64) >= midpoint
    table = {(True, True): "Q1", (True, False): "Q2", (False, False): "Q3", (False, True): "Q4"}
    return [table[(bool(a), bool(v))] for a, v in zip(high_arousal, high_valence)]


def quadrant_metrics(true_quadrants: Sequence[str], predicted_quadrants: Sequence[str]) -> dict[str, float]:
    """Accuracy, balanced accuracy and macro-F1 of the quadrants, with the classification task's definitions
    (averaged over the quadrants present in the true labels; see `sonolab.evaluate.metrics.MACRO_DEFINITION`)."""
    return {
        "accuracy": float(accuracy_score(true_quadrants, predicted_quadrants)),
        "balanced_accuracy": balanced_accuracy(true_quadrants, predicted_quadrants),
        "macro_f1": macro_f1(true_quadrants, predicted_quadrants),
    }


def emotion_metrics(
    true_av: np.ndarray | None,
    predicted_av: np.ndarray | None,
    true_quadrants: Sequence[str],
    predicted_quadrants: Sequence[str],
    target_names: Sequence[str] = ("arousal", "valence"),
) -> dict[str, float]:
    """All metrics in one flat dict: `{dim}_{mae,rmse,r2,pearson_r,ccc}`, `mean_ccc`, and quadrant scores.

    Quadrant scores appear twice: as `quadrant_accuracy`/`quadrant_macro_f1` and under the package's
    classification names (`accuracy`, `balanced_accuracy`, `macro_f1`).
    """
    metrics: dict[str, float] = {}
    if true_av is not None and predicted_av is not None:
        cccs = []
        for column, name in enumerate(target_names):
            for key, value in dimension_metrics(true_av[:, column], predicted_av[:, column]).items():
                metrics[f"{name}_{key}"] = value
            cccs.append(metrics[f"{name}_ccc"])
        metrics["mean_ccc"] = float(np.mean(cccs))
    scores = quadrant_metrics(true_quadrants, predicted_quadrants)
    metrics.update(scores)
    metrics["quadrant_accuracy"] = scores["accuracy"]
    metrics["quadrant_macro_f1"] = scores["macro_f1"]
    return metrics


def plot_av_scatter(true_av: np.ndarray, predicted_av: np.ndarray, path: str | Path, midpoint: float,
                    target_names: Sequence[str] = ("arousal", "valence")) -> Path:
    """Predicted-vs-true scatter per dimension, with the identity line and the midpoint marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(target_names), figsize=(5 * len(target_names), 4.5))
    for column, (axis, name) in enumerate(zip(np.atleast_1d(axes), target_names)):
        true, pred = true_av[:, column], predicted_av[:, column]
        low, high = float(min(true.min(), pred.min())), float(max(true.max(), pred.max()))
        axis.scatter(true, pred, s=12, alpha=0.7)
        axis.plot([low, high], [low, high], color="black", linewidth=1, label="identity")
        axis.axvline(midpoint, color="grey", linestyle=":", linewidth=1)
        axis.axhline(midpoint, color="grey", linestyle=":", linewidth=1)
        axis.set_xlabel(f"true {name}")
        axis.set_ylabel(f"predicted {name}")
        axis.set_title(f"{name}: CCC {concordance_correlation(true, pred):.3f}")
        axis.legend(loc="upper left")
    figure.tight_layout()
    return save_figure_atomic(figure, path, dpi=120)


def plot_quadrant_confusion(true_quadrants: Sequence[str], predicted_quadrants: Sequence[str], path: str | Path) -> Path:
    """The 4x4 quadrant confusion matrix (rows: true, columns: predicted), counts annotated."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    matrix = confusion_matrix(true_quadrants, predicted_quadrants, labels=list(QUADRANTS))
    figure, axis = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay(matrix, display_labels=list(QUADRANTS)).plot(ax=axis, colorbar=False)
    axis.set_title("quadrant confusion")
    figure.tight_layout()
    return save_figure_atomic(figure, path, dpi=120)
