"""Time the classical heads (inner CV + refit + calibration) on one outer fold of a recipe's real clip vectors.

    python benchmarks/classical_heads_speed.py recipes/emodb_cpu.yaml ROOT CACHE_DIR [--folds 2] [--set head.c_grid=[...]]

CACHE_DIR is a run's `cache` folder (features are read from it, or extracted into it). For each head of the recipe's
sweep, prints the fit time per outer fold, the chosen hyperparameters and the inner-CV (validation) score of each
grid point: the inner-CV curves that justify a grid. No test fold is scored here.

    python benchmarks/classical_heads_speed.py recipes/fsdd_cpu.yaml ROOT CACHE_DIR --solvers

With --solvers, first times liblinear's primal and dual solvers for the linear SVM at each C of its grid on the first
inner split of each timed outer fold (the head's own preprocessing, one BLAS thread): CPU seconds and iterations
(an iteration count equal to max_iter means the solver stopped before converging).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np


def fold_rows(recipe_path: Path, root: Path, cache_dir: Path, overrides: list[str]):
    """The recipe's prepared clip vectors and its folds (sonolab's own splits, features and normalisation)."""
    from sonolab.data.splits import make_splits
    from sonolab.train.config import load_recipe
    from sonolab.train.tasks import get_task

    recipe = load_recipe(recipe_path, overrides)
    recipe["root"] = str(root)
    plugin = get_task("classical")
    index = plugin.load_index(recipe, root)
    split = recipe["split"]
    splits = make_splits(index, split["strategy"], seed=int(split["seed"]), n_folds=int(split["folds"]),
                         val_fraction=float(split["val_fraction"]), test_fraction=float(split["test_fraction"]))
    data = plugin.prepare(recipe, index, splits.folds, cache_dir, progress=False)
    return recipe, data, splits.folds


def solver_times(x: np.ndarray, y: np.ndarray, g: np.ndarray, settings) -> None:
    """liblinear primal vs dual for the linear SVM at each C, on the first inner split's training rows."""
    import warnings

    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    from sonolab.models.classical import _blas_threads, _grid, _model, _preprocessing, inner_splits

    train, _ = inner_splits(g, settings.inner_folds)[0]
    with warnings.catch_warnings(), _blas_threads(settings.blas_threads):
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit_x = _preprocessing("linear_svm", settings, len(train), x.shape[1]).fit_transform(x[train])
        for point in _grid("linear_svm", settings, x.shape[1]):
            cells = []
            for dual in (False, True):
                cpu = time.process_time()
                model = clone(_model("linear_svm", settings, dual)).set_params(**point).fit(fit_x, y[train])
                cells.append(f"{'dual' if dual else 'primal'} {time.process_time() - cpu:.2f} CPU-s ({model.n_iter_} iterations)")
            print(f"    linear SVM C={point['C']:g} on {fit_x.shape}: " + ", ".join(cells) + f", load {os.getloadavg()[0]:.2f}",
                  flush=True)


def main() -> None:
    from sonolab.models.classical import fit_classical_head
    from sonolab.train.classical import head_section, head_settings

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("recipe", type=Path)
    parser.add_argument("root", type=Path)
    parser.add_argument("cache_dir", type=Path)
    parser.add_argument("--folds", type=int, default=1, help="outer folds to time (the first N)")
    parser.add_argument("--heads", nargs="*", default=None)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--solvers", action="store_true", help="also time liblinear primal vs dual per C (linear SVM)")
    args = parser.parse_args()
    recipe, data, folds = fold_rows(args.recipe, args.root, args.cache_dir, args.overrides)
    heads = args.heads or (recipe.get("sweep") or {}).get("head.name") or [head_section(recipe)["name"]]
    for fold in folds[: args.folds]:
        ids = [i for i in fold.partitions()["train"] + fold.partitions()["val"] if i in data.usable]
        x = data.inputs.matrix(ids, data.sets[0])  # the headline modality set, as fit_fold uses it
        y = np.asarray([data.labels_by_id[i] for i in ids])
        g = np.asarray([data.groups_by_id[i] for i in ids])
        if args.solvers:
            solver_times(x, y, g, head_settings({**head_section(recipe), "name": "linear_svm"}, 0))
        for head in heads:
            settings = head_settings({**head_section(recipe), "name": head}, 0)
            started, cpu = time.perf_counter(), time.process_time()
            fitted = fit_classical_head(x, y, g, head, settings)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            curve = ", ".join(f"{'/'.join(f'{v:g}' for v in e['params'].values())}: {e['mean']:.3f}" for e in fitted.inner_cv_scores)
            print(f"{fold.name} {head}: {wall:.1f} s wall, {cpu:.1f} s cpu, rows {x.shape}, chosen {fitted.chosen}, "
                  f"load {os.getloadavg()[0]:.2f}\n    inner CV: {curve}", flush=True)


if __name__ == "__main__":
    main()
