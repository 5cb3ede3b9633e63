"""Classification metrics (scikit-learn) and their mean ± std over folds and seeds."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

SCALAR_METRICS: tuple[str, ...] = ("accuracy", "balanced_accuracy", "macro_f1", "weighted_f1", "roc_auc_ovr", "log_loss")
MACRO_DEFINITION = ("macro-F1 and balanced accuracy average over the classes present in the partition's true labels "
                    "(a class absent from a test fold is not scored as 0)")


def present_labels(y_true: Sequence[Any]) -> list[Any]:
    """The classes that occur in `y_true`, sorted: what every macro average in sonolab averages over."""
    return sorted(set(np.asarray(y_true).tolist()))


def balanced_accuracy(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """Unweighted average recall (UA) over the classes present in `y_true`. Equal to scikit-learn's
    balanced_accuracy_score, without its warning when a prediction names a class absent from `y_true`
    (normal in leave-one-speaker-out, where a validation speaker lacks some classes)."""
    if len(y_true) == 0:
        return float("nan")
    return float(skm.recall_score(y_true, y_pred, labels=present_labels(y_true), average="macro", zero_division=0))


def macro_f1(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """F1 averaged over the classes present in `y_true` (see MACRO_DEFINITION)."""
    if len(y_true) == 0:
        return float("nan")
    return float(skm.f1_score(y_true, y_pred, labels=present_labels(y_true), average="macro", zero_division=0))


def classification_metrics(y_true: Sequence[int], probabilities: np.ndarray, class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, balanced accuracy (UA), macro/weighted F1, one-vs-rest ROC-AUC, log loss, per-class
    recall and the confusion matrix (rows: true class, columns: predicted), for integer labels and
    `(n, n_classes)` class probabilities.

    ROC-AUC is computed over the classes present in `y_true` (one-vs-rest, macro); it is None when
    fewer than two classes are present (e.g. a single-speaker test fold of a one-class subset).
    """
    y_true = np.asarray(y_true, dtype=int)
    probabilities = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-12, 1.0)
    probabilities = probabilities / probabilities.sum(axis=1, keepdims=True)  # float32 softmax sums to 1 +- 1e-7
    labels = list(range(len(class_names)))
    y_pred = probabilities.argmax(axis=1)
    present = np.unique(y_true)
    roc_auc: float | None = None
    if len(present) >= 2:
        if len(labels) == 2:
            roc_auc = float(skm.roc_auc_score(y_true, probabilities[:, 1]))
        else:
            scores = probabilities[:, present]
            scores = scores / np.clip(scores.sum(axis=1, keepdims=True), 1e-12, None)
            remap = {label: index for index, label in enumerate(present)}
            remapped = [remap[v] for v in y_true]
            if len(present) == 2:  # two classes present: the binary AUC of the second one's renormalised score
                roc_auc = float(skm.roc_auc_score(remapped, scores[:, 1]))
            else:
                roc_auc = float(skm.roc_auc_score(remapped, scores, multi_class="ovr", average="macro"))
    recall = skm.recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "balanced_accuracy": balanced_accuracy(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred),
        "weighted_f1": float(skm.f1_score(y_true, y_pred, labels=labels, average="weighted", zero_division=0)),
        "roc_auc_ovr": roc_auc,
        "log_loss": float(skm.log_loss(y_true, probabilities, labels=labels)),
        "per_class_recall": {name: (float(recall[index]) if index in present else None) for index, name in enumerate(class_names)},
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "classes": list(class_names),
        "count": int(len(y_true)),
    }


def mean_std(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Mean and sample std (ddof=1; 0 for one value) of the finite values, with their count."""
    finite = [float(value) for value in values if value is not None and math.isfinite(float(value))]
    if not finite:
        return {"mean": None, "std": None, "n": 0}
    array = np.asarray(finite)
    return {"mean": float(array.mean()), "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0, "n": len(array)}


def summarize(records: list[dict[str, Any]], metric_names: Sequence[str] = SCALAR_METRICS) -> dict[str, dict[str, Any]]:
    """Mean ± std of each scalar metric over `records` (each a dict of metric name -> value)."""
    return {name: mean_std([record.get(name) for record in records]) for name in metric_names}
