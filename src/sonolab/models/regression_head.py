"""A ridge regression head on clip vectors (scikit-learn `Ridge`), one per target (e.g. arousal, valence).

`fit_ridge_head(features, targets, groups, alpha_grid, inner_folds)` receives the TRAINING rows only. Each
target's alpha is chosen by the same grouped inner cross-validation as the classical classifiers
(`sonolab.models.classical.inner_splits`: no group on both sides), scored by mean squared error, then the
pipeline (StandardScaler + Ridge) is refitted on all training rows. The fitted head is kept as plain arrays and
predicts with numpy; `save` writes safetensors + JSON (no pickle).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sklearn.metrics import mean_squared_error

from sonolab.atomic import atomic_path, write_json_atomic
from sonolab.errors import DatasetError

DEFAULT_ALPHA_GRID: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)


@dataclass
class RidgeHead:
    """Per target: scaler mean/scale, coefficients, intercept and the alpha the inner CV chose."""

    targets: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_targets, dim)
    intercept: np.ndarray  # (n_targets,)
    chosen_alpha: dict[str, float]
    inner_cv: dict[str, list[dict[str, float]]] = field(default_factory=dict)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(n, n_targets) predictions."""
        standardised = (np.asarray(features, dtype=np.float64) - self.mean) / self.scale
        return standardised @ self.coef.T + self.intercept

    def save(self, folder: str | Path) -> Path:
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "ridge.safetensors") as temporary:
            save_file({"mean": self.mean, "scale": self.scale, "coef": self.coef, "intercept": self.intercept}, str(temporary))
        write_json_atomic(folder / "ridge.json", {"targets": self.targets, "chosen_alpha": self.chosen_alpha,
                                                  "inner_cv": self.inner_cv})
        return folder


def load_ridge_head(folder: str | Path) -> RidgeHead:
    from safetensors.numpy import load_file

    folder = Path(folder)
    arrays = load_file(str(folder / "ridge.safetensors"))
    config = json.loads((folder / "ridge.json").read_text(encoding="utf-8"))
    return RidgeHead(config["targets"], arrays["mean"], arrays["scale"], arrays["coef"], arrays["intercept"],
                     config["chosen_alpha"], config.get("inner_cv", {}))


def fit_ridge_head(features: np.ndarray, targets: dict[str, np.ndarray], groups: np.ndarray,
                   alpha_grid: tuple[float, ...] = DEFAULT_ALPHA_GRID, inner_folds: int | None = None) -> RidgeHead:
    """Fit one ridge per target on the TRAINING rows given; alpha per target by the grouped inner CV."""
    from sklearn.linear_model import Ridge
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    from sonolab.models.classical import inner_splits

    features = np.asarray(features, dtype=np.float64)
    if not np.all(np.isfinite(features)):
        raise DatasetError("regression head features contain NaN or infinite values (fix: check the feature cache)")
    names = list(targets)
    values = np.stack([np.asarray(targets[name], dtype=np.float64) for name in names], axis=1)
    if len(values) != len(features):
        raise ValueError(f"targets: {len(values)} values for {len(features)} rows")
    splits = inner_splits(np.asarray(groups), inner_folds)
    # One ridge fit per (alpha, inner split) serves every target (Ridge solves a 2-d y at once); each target's
    # alpha is chosen on its own column's mean squared error.
    scoring = {f"t{k}": make_scorer(_column_mse, greater_is_better=False, column=k) for k in range(len(names))}
    search = GridSearchCV(Pipeline([("scaler", StandardScaler()), ("model", Ridge())]),
                          {"model__alpha": [float(a) for a in alpha_grid]}, scoring=scoring, cv=splits, refit=False,
                          n_jobs=1, error_score="raise")
    # One BLAS thread: on a shared 2-core machine spinning BLAS threads made these fits 6x slower (800 x 884
    # rows, load 9: 76.8 s vs 12.3 s), as the classical heads found for logistic regression.
    with threadpool_limits(limits=1, user_api="blas"):
        search.fit(features, values)
    alphas = [float(params["model__alpha"]) for params in search.cv_results_["params"]]
    chosen, inner = {}, {}
    for k, name in enumerate(names):
        scores = search.cv_results_[f"mean_test_t{k}"]
        chosen[name] = alphas[int(np.argmax(scores))]
        inner[name] = [{"alpha": alpha, "mse": float(-score)} for alpha, score in zip(alphas, scores)]
    with threadpool_limits(limits=1, user_api="blas"):
        scaler = StandardScaler().fit(features)
        model = Ridge(alpha=np.asarray([chosen[name] for name in names])).fit(scaler.transform(features), values)
    return RidgeHead(names, scaler.mean_.astype(np.float64), scaler.scale_.astype(np.float64),
                     np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_).astype(np.float64), chosen, inner)


def _column_mse(y_true: np.ndarray, y_pred: np.ndarray, column: int) -> float:
    return float(mean_squared_error(np.asarray(y_true)[:, column], np.asarray(y_pred)[:, column]))
