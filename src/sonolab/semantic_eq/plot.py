"""Response curves: generated settings for terms (human settings of the same term faint behind them)
and an interpolation A -> B. Curves come from `magnitude_response_db`, i.e. the very sections applied."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sonolab.atomic import save_figure_atomic
from sonolab.audio.eq import log_frequency_grid_hz, magnitude_response_db, responses_db
from sonolab.data.safe import SafeDataset
from sonolab.semantic_eq.generators import SettingGenerator

PLOT_SAMPLE_RATE_HZ = 44100
HUMAN_CURVES_PER_TERM = 60


def gain_axis_limit_db(max_abs_gain_db: float) -> float:
    """Symmetric y limit (dB) that shows every curve: at least ±15 dB, else the next multiple of 5 dB above."""
    return max(15.0, 5.0 * float(np.ceil((max_abs_gain_db + 0.5) / 5.0)))


def plot_eq_responses(
    generator: SettingGenerator,
    out_path: str | Path,
    terms: list[str] | None = None,
    dataset: SafeDataset | None = None,
    interpolation: tuple[str, str, int] | None = ("warm", "bright", 5),
    strength: float = 1.0,
) -> Path:
    """Write a PNG: left, each term's setting over its human settings; right, the interpolation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    terms = list(terms or generator.terms[:4])
    grid_hz = log_frequency_grid_hz(256)
    show_interpolation = interpolation is not None and all(t in generator.terms for t in interpolation[:2])
    figure, axes = plt.subplots(1, 2 if show_interpolation else 1, figsize=(13 if show_interpolation else 7, 4.5), squeeze=False)
    axis = axes[0, 0]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    rng = np.random.default_rng(0)
    drawn_max_db = 0.0  # the y range must show every drawn curve (five bands at ±12 dB can sum past ±15 dB)
    for index, term in enumerate(terms):
        colour = colours[index % len(colours)]
        if dataset is not None:
            rows = [row.setting for row in dataset.rows if row.term == term]
            if len(rows) > HUMAN_CURVES_PER_TERM:
                rows = [rows[i] for i in sorted(rng.choice(len(rows), HUMAN_CURVES_PER_TERM, replace=False))]
            for curve in responses_db(rows, grid_hz, PLOT_SAMPLE_RATE_HZ):
                drawn_max_db = max(drawn_max_db, float(np.max(np.abs(curve))))
                axis.semilogx(grid_hz, curve, color=colour, alpha=0.06, linewidth=0.8)
        curve = magnitude_response_db(generator.generate(term, strength), grid_hz, PLOT_SAMPLE_RATE_HZ)
        drawn_max_db = max(drawn_max_db, float(np.max(np.abs(curve))))
        axis.semilogx(grid_hz, curve, color=colour, linewidth=2.2, label=f"{term} ({generator.name})")
    axis.set_title("generated settings" + (f" at strength {strength:g}" if strength != 1.0 else "") + (" (faint: human settings of the term)" if dataset is not None else ""), fontsize=10)
    if show_interpolation:
        term_a, term_b, steps = interpolation
        right = axes[0, 1]
        cmap = plt.get_cmap("coolwarm")
        for step, setting in enumerate(generator.interpolate(term_a, term_b, steps, strength)):
            weight = step / max(steps - 1, 1)
            response = magnitude_response_db(setting, grid_hz, PLOT_SAMPLE_RATE_HZ)
            drawn_max_db = max(drawn_max_db, float(np.max(np.abs(response))))
            right.semilogx(grid_hz, response, color=cmap(weight), linewidth=1.8, label=f"{term_a} -> {term_b} {weight:.2f}")
        right.set_title(f"interpolation {term_a} -> {term_b} in {steps} steps", fontsize=10)
    for axis in axes[0]:
        axis.set_xlabel("frequency (Hz)")
        axis.set_ylabel("gain (dB)")
        axis.set_xlim(20, 20000)
        axis.set_ylim(-gain_axis_limit_db(drawn_max_db), gain_axis_limit_db(drawn_max_db))
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    return save_figure_atomic(figure, out_path)
