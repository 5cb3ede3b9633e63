"""Figures (matplotlib, Agg backend): confusion matrix with class names, training curves from the CSV log."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sonolab.atomic import save_figure_atomic


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion_matrix(matrix: Sequence[Sequence[int]], classes: Sequence[str], path: str | Path, title: str = "Confusion matrix") -> Path:
    """Row-normalised confusion matrix (true class per row) annotated with counts; saved as PNG."""
    plt = _pyplot()
    counts = np.asarray(matrix, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    normalised = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    size = max(4.0, 0.45 * len(classes) + 2.0)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    axes.set_xticks(range(len(classes)), labels=list(classes), rotation=90 if len(classes) > 8 else 45, ha="right" if len(classes) <= 8 else "center")
    axes.set_yticks(range(len(classes)), labels=list(classes))
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    if len(classes) <= 20:
        for row in range(len(classes)):
            for column in range(len(classes)):
                if counts[row, column]:
                    axes.text(column, row, f"{int(counts[row, column])}", ha="center", va="center",
                              color="white" if normalised[row, column] > 0.5 else "black", fontsize=8)
    figure.colorbar(image, ax=axes, fraction=0.046, label="fraction of the true class")
    figure.tight_layout()
    return save_figure_atomic(figure, path)


def plot_training_curves(rows: list[dict[str, float]], path: str | Path, best_epoch: int | None = None, title: str = "Training curves") -> Path:
    """Loss and accuracy per epoch (train and validation) from `read_csv_log` rows; marks the best epoch (1-based)."""
    plt = _pyplot()
    epochs = [int(row["epoch"]) + 1 for row in rows]
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(10, 3.8))
    for key, axes in (("loss", loss_axes), ("accuracy", accuracy_axes)):
        for split, style in (("train", "-"), ("val", "--")):
            values = [row.get(f"{split}_{key}") for row in rows]
            points = [(epoch, value) for epoch, value in zip(epochs, values) if value is not None]
            if points:
                axes.plot(*zip(*points), style, marker="o", markersize=3, label=f"{split} {key}")
        if best_epoch:
            axes.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch {best_epoch}")
        axes.set_xlabel("epoch")
        axes.set_ylabel(key)
        axes.legend(fontsize=8)
        axes.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure_atomic(figure, path)
