"""Choose an FSDD CPU recipe on VALIDATION only: for every candidate (feature kinds, concatenated, each speaker
standardised by its own statistics, then a classical head) and every leave-one-speaker-out outer fold, the head is
fitted on the 5 training speakers with sonolab's inner leave-one-speaker-out over them; the candidate's validation
score is the best inner-CV UA (what a sonolab sweep selects on), averaged over the outer folds. No test speaker's
label is read and no test score is computed here.

    python benchmarks/fsdd_cpu_explore.py [--root ../shared/data/fsdd] [--cache DIR] [--kinds functionals aisfx ...]

Features go through sonolab's own cache (`sonolab.data.cache`, keyed by their settings); a concatenation is
prototyped here in numpy (the plugin's multi-kind features would wire it into a recipe).
"""

from __future__ import annotations

import argparse
import itertools
import os
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
KINDS = {
    "functionals": {"kind": "functionals"},
    "functionals_nof0": {"kind": "functionals", "f0": False},
    "opensmile": {"kind": "opensmile", "feature_set": "ComParE_2016"},
    "egemaps": {"kind": "opensmile", "feature_set": "eGeMAPSv02"},
    "aisfx": {"kind": "aisfx", "pooling": "mean_max"},
    "logmel": {"kind": "logmel"},
}


def kind_matrix(name: str, items: list, cache_root: Path) -> tuple[np.ndarray, list[str]]:
    """One clip vector per item of a kind, from (or into) sonolab's feature cache."""
    from sonolab.data.cache import build_feature_cache, cache_dir_for, open_feature_cache
    from sonolab.train.classical import clip_vector_of
    from sonolab.train.feature_section import kind_settings

    settings = kind_settings(KINDS[name])
    directory = cache_dir_for(cache_root, settings)
    started = time.perf_counter()
    build_feature_cache(items, settings, directory, progress=False)
    cache = open_feature_cache(directory, settings)
    ids = [item.item_id for item in items if item.item_id in cache]
    matrix = np.stack([clip_vector_of(cache.view(i), KINDS[name]["kind"]) for i in ids])
    print(f"  {name}: {matrix.shape} in {time.perf_counter() - started:.0f} s (cache {directory})", flush=True)
    return matrix, ids


def main() -> None:
    from sonolab.data.group_normalisation import per_group_standardise
    from sonolab.data.registry import load_dataset
    from sonolab.data.splits import make_splits
    from sonolab.models.classical import ClassicalHeadSettings, fit_classical_head

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=REPO.parent / "shared" / "data" / "fsdd")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/sonolab-fsdd-explore"))
    parser.add_argument("--kinds", nargs="+", default=["functionals", "aisfx", "logmel"])
    parser.add_argument("--combine", type=int, default=2, help="concatenate up to this many kinds")
    parser.add_argument("--heads", nargs="+", default=["logistic_regression", "linear_svm", "rbf_svm"])
    args = parser.parse_args()
    index = load_dataset("fsdd", args.root)
    folds = make_splits(index, "loso").folds
    labels = {item.item_id: item.label for item in index.items}
    groups = {item.item_id: str(item.group) for item in index.items}
    print(f"FSDD: {len(index.items)} items, {len(folds)} outer folds; load {os.getloadavg()}", flush=True)
    matrices = {}
    for name in args.kinds:
        matrix, ids = kind_matrix(name, index.items, args.cache)
        # each speaker by its own statistics, no labels (the plugin's per_group_standardise)
        matrices[name] = dict(zip(ids, per_group_standardise(matrix, [groups[i] for i in ids]).features))
    candidates = [combo for size in range(1, args.combine + 1) for combo in itertools.combinations(args.kinds, size)]
    print("candidate | head | validation UA per outer fold (best inner-CV mean, 5 training speakers) | mean | time", flush=True)
    for combo in candidates:
        for head in args.heads:
            started, per_fold = time.perf_counter(), []
            for fold in folds:
                parts = fold.partitions()
                fit_ids = [i for i in parts["train"] + parts["val"] if all(i in matrices[k] for k in combo)]
                x = np.stack([np.concatenate([matrices[k][i] for k in combo]) for i in fit_ids])
                fitted = fit_classical_head(x, np.asarray([labels[i] for i in fit_ids]), np.asarray([groups[i] for i in fit_ids]),
                                            head, ClassicalHeadSettings(max_iter=10000))
                per_fold.append(max(entry["mean"] for entry in fitted.inner_cv_scores))
            print(f"{'+'.join(combo)} | {head} | {' '.join(f'{v:.3f}' for v in per_fold)} | {np.mean(per_fold):.4f} | "
                  f"{time.perf_counter() - started:.0f} s, load {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
