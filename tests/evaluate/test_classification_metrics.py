"""Metrics against hand-computed values; figures and self-contained reports."""

from __future__ import annotations

import numpy as np
import pytest

from sonolab.evaluate.metrics import classification_metrics, mean_std


def test_metrics_match_hand_computed_values() -> None:
    # 6 items of class a (5 right), 2 of class b (1 right): accuracy 6/8, balanced (5/6 + 1/2) / 2
    y_true = [0, 0, 0, 0, 0, 0, 1, 1]
    predicted = [0, 0, 0, 0, 0, 1, 1, 0]
    probabilities = np.array([[0.9, 0.1] if p == 0 else [0.2, 0.8] for p in predicted])
    scores = classification_metrics(y_true, probabilities, ["a", "b"])
    assert scores["accuracy"] == pytest.approx(6 / 8)
    assert scores["balanced_accuracy"] == pytest.approx((5 / 6 + 1 / 2) / 2)
    assert scores["per_class_recall"] == pytest.approx({"a": 5 / 6, "b": 0.5})
    assert scores["confusion_matrix"] == [[5, 1], [1, 1]]
    f1_a = 2 * 5 / (2 * 5 + 1 + 1)
    f1_b = 2 * 1 / (2 * 1 + 1 + 1)
    assert scores["macro_f1"] == pytest.approx((f1_a + f1_b) / 2)
    assert 0 <= scores["roc_auc_ovr"] <= 1


def test_multiclass_auc_and_absent_classes() -> None:
    rng = np.random.default_rng(0)
    y_true = np.repeat([0, 1, 2], 10)
    perfect = np.eye(4)[y_true] * 0.9 + 0.025  # class 3 never occurs in this test fold
    scores = classification_metrics(y_true, perfect, ["a", "b", "c", "d"])
    assert scores["accuracy"] == 1.0 and scores["roc_auc_ovr"] == pytest.approx(1.0)
    assert scores["per_class_recall"]["d"] is None
    noise = rng.dirichlet(np.ones(4), size=30)
    assert 0.2 < classification_metrics(y_true, noise, list("abcd"))["roc_auc_ovr"] < 0.8


def test_mean_std_uses_sample_std_and_skips_missing() -> None:
    assert mean_std([0.8, 0.9, 1.0]) == pytest.approx({"mean": 0.9, "std": 0.1, "n": 3})
    assert mean_std([0.5, None]) == {"mean": 0.5, "std": 0.0, "n": 1}
    assert mean_std([]) == {"mean": None, "std": None, "n": 0}


def test_figures_are_png_files(tmp_path) -> None:
    from sonolab.evaluate.plots import plot_confusion_matrix, plot_training_curves

    matrix = plot_confusion_matrix([[3, 1], [0, 4]], ["dog", "rain"], tmp_path / "cm.png")
    rows = [{"epoch": e, "train_loss": 1 / (e + 1), "val_loss": 1.2 / (e + 1), "val_accuracy": 0.5 + e / 10} for e in range(4)]
    curves = plot_training_curves(rows, tmp_path / "curves.png", best_epoch=3)
    for path in (matrix, curves):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
