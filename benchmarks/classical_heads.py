"""Classical heads on cached clip-level features, leave-one-group-out, in one run (FSDD by default).

    python benchmarks/classical_heads.py                                  # functionals, 3 heads, +/- group normalisation
    python benchmarks/classical_heads.py --kind opensmile --settings '{"feature_set": "eGeMAPSv02"}' --heads linear_svm

For each outer fold (one speaker held out) every head is fitted on the other speakers only, its C (and
gamma) chosen by the inner leave-one-speaker-out CV on those rows. Accuracy and balanced accuracy are
averaged over folds (std across folds). With `per_group_standardise` each speaker's vectors are
standardised by its own statistics, the test speaker's from its own unlabelled recordings (transductive).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULT_FSDD_ROOT  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="fsdd")
    parser.add_argument("--root", type=Path, default=DEFAULT_FSDD_ROOT)
    parser.add_argument("--kind", default="functionals")
    parser.add_argument("--settings", default="{}", help="the kind's settings as JSON")
    parser.add_argument("--heads", default="logistic_regression,linear_svm,rbf_svm")
    parser.add_argument("--cache-root", type=Path, default=Path(tempfile.gettempdir()) / "sonolab-bench-caches")
    args = parser.parse_args()

    from sklearn.metrics import balanced_accuracy_score

    from sonolab.data.cache import build_feature_cache, cache_dir_for, open_feature_cache
    from sonolab.data.group_normalisation import per_group_standardise
    from sonolab.data.registry import load_dataset
    from sonolab.features import settings_from_dict
    from sonolab.models.classical import fit_classical_head

    index = load_dataset(args.dataset, args.root)
    settings = settings_from_dict(args.kind, json.loads(args.settings))
    cache_dir = cache_dir_for(args.cache_root, settings)
    start = time.perf_counter()
    built = build_feature_cache(index.items, settings, cache_dir, progress=False)
    print(f"# {args.dataset}: {len(index.items)} clips, {args.kind} {json.dumps(settings.to_dict())}")
    print(f"features: {time.perf_counter() - start:.1f} s ({'built' if built.rebuilt else 'reused'}, {len(built.failures)} failed)")
    cache = open_feature_cache(cache_dir, settings)
    items = [item for item in index.items if item.item_id in cache]
    features = cache.clip_matrix([item.item_id for item in items])
    labels = np.array([item.label for item in items])
    groups = np.array([item.group for item in items])
    for normalisation in ("none", "per_group_standardise"):
        for head_name in [h.strip() for h in args.heads.split(",") if h.strip()]:
            start = time.perf_counter()
            accuracy, balanced, chosen = [], [], []
            for test_group in np.unique(groups):
                matrix = features
                if normalisation == "per_group_standardise":
                    matrix = per_group_standardise(features, groups, test_groups=[test_group]).features
                train, test = groups != test_group, groups == test_group
                head = fit_classical_head(matrix[train], labels[train], groups[train], head_name)
                predicted = head.predict(matrix[test])
                accuracy.append(float(np.mean(predicted == labels[test])))
                balanced.append(float(balanced_accuracy_score(labels[test], predicted)))
                chosen.append(head.chosen)
            print(f"{normalisation:22s} {head_name:20s} accuracy {100 * np.mean(accuracy):5.1f} % +/- {100 * np.std(accuracy):4.1f} "
                  f"(folds), UA {100 * np.mean(balanced):5.1f} %, {len(accuracy)} folds, {time.perf_counter() - start:6.1f} s; "
                  f"chosen per fold: {chosen}", flush=True)


if __name__ == "__main__":
    main()
