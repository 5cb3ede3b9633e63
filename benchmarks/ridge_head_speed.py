"""Speed of the ridge regression head (`sonolab.models.regression_head`) at 1,000-song scale, as ratios in one run.

    PYTHONPATH=src python benchmarks/ridge_head_speed.py [--rows 800] [--dim 884]

`--dim 884`: musicnn both/mean_max (500) + MiniLM (384). Compares (1) one grid search per target (the baseline)
with the head's one search on a 2-d target, and (2) free BLAS threads with the head's one BLAS thread.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sonolab.models.classical import inner_splits
from sonolab.models.regression_head import DEFAULT_ALPHA_GRID, fit_ridge_head


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=800)
    parser.add_argument("--dim", type=int, default=884)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    features = rng.normal(size=(args.rows, args.dim))
    groups = np.arange(args.rows) // 2
    targets = {"arousal": features[:, 0] + rng.normal(size=args.rows), "valence": features[:, 1] + rng.normal(size=args.rows)}
    print(f"load average before: {os.getloadavg()}")
    started = time.perf_counter()
    fit_ridge_head(features, targets, groups)
    head_s = time.perf_counter() - started
    started = time.perf_counter()
    with threadpool_limits(limits=1, user_api="blas"):
        for values in targets.values():
            GridSearchCV(Pipeline([("scaler", StandardScaler()), ("model", Ridge())]), {"model__alpha": list(DEFAULT_ALPHA_GRID)},
                         scoring="neg_mean_squared_error", cv=inner_splits(groups), refit=False, n_jobs=1).fit(features, values)
    per_target_s = time.perf_counter() - started
    free_started = time.perf_counter()
    _fit_with_free_threads(features, targets, groups)
    free_s = time.perf_counter() - free_started
    print(f"ridge head, {args.rows} x {args.dim}, 2 targets, 1 BLAS thread: one grid search per target {per_target_s:.1f} s, "
          f"the head's one search {head_s:.1f} s: {per_target_s / head_s:.1f}x faster")
    print(f"the head's search with free BLAS threads {free_s:.1f} s vs one thread {head_s:.1f} s: {free_s / head_s:.1f}x; "
          f"load average after: {os.getloadavg()}")


def _fit_with_free_threads(features: np.ndarray, targets: dict[str, np.ndarray], groups: np.ndarray) -> None:
    """The head's own procedure (one search, 2-d target) without the thread limit: the baseline of the limit."""
    from sklearn.metrics import make_scorer

    from sonolab.models.regression_head import _column_mse

    values = np.stack(list(targets.values()), axis=1)
    scoring = {f"t{k}": make_scorer(_column_mse, greater_is_better=False, column=k) for k in range(values.shape[1])}
    GridSearchCV(Pipeline([("scaler", StandardScaler()), ("model", Ridge())]), {"model__alpha": list(DEFAULT_ALPHA_GRID)},
                 scoring=scoring, cv=inner_splits(groups), refit=False, n_jobs=1).fit(features, values)


if __name__ == "__main__":
    main()
