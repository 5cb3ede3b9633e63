"""A contact sheet: a grid of log-mel spectrograms with their ids and labels, for visual checks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sonolab.atomic import save_figure_atomic
from sonolab.audio.features import FeatureSettings
from sonolab.errors import ConfigError


def save_contact_sheet(
    matrices: Sequence[np.ndarray],
    titles: Sequence[str],
    path: Path | str,
    settings: FeatureSettings,
    columns: int | None = None,
) -> Path:
    """Draw each `(n_mels, frames)` dB matrix with its title (e.g. "id: label") and save the grid
    atomically (format from the suffix: .png, .pdf, .svg). Time is in seconds, colour in dB."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(matrices) != len(titles):
        raise ConfigError(f"{len(matrices)} matrices but {len(titles)} titles: give one title per spectrogram")
    if not matrices:
        raise ConfigError("a contact sheet needs at least one spectrogram")
    path = Path(path)
    count = len(matrices)
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = math.ceil(count / columns)
    low = min(float(np.min(m)) for m in matrices)
    high = max(float(np.max(m)) for m in matrices)
    seconds_per_frame = settings.hop_length_samples / settings.sample_rate_hz
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.4 * rows), squeeze=False, constrained_layout=True)
    image = None
    for position, axis in enumerate(axes.flat):
        if position >= count:
            axis.axis("off")
            continue
        matrix = np.asarray(matrices[position])
        image = axis.imshow(matrix, origin="lower", aspect="auto", cmap="magma", vmin=low, vmax=high,
                            extent=(0.0, matrix.shape[1] * seconds_per_frame, 0, matrix.shape[0]))
        axis.set_title(titles[position], fontsize=8)
        axis.set_xlabel("time (s)", fontsize=7)
        axis.set_ylabel("mel band", fontsize=7)
        axis.tick_params(labelsize=6)
    if image is not None:
        figure.colorbar(image, ax=axes, shrink=0.8, label="dB")
    return save_figure_atomic(figure, path, dpi=100)
