"""CPU models in one run, on the same splits: each `*_cpu.yaml` recipe beside openSMILE + linear SVM, functionals +
linear SVM (sonolab's built-in baseline), MFCC statistics + RBF SVM (FSDD only) and, with --cnn, the CNN recipe.

    python benchmarks/cpu_models.py                                   # FSDD (../shared/data/fsdd), leave-one-speaker-out
    python benchmarks/cpu_models.py --esc50 ROOT --emodb ROOT --cnn   # any ESC-50- or EmoDB-layout roots too

The leakage audit's content check is off in these runs (`audit.content=never`: it is timed in
benchmarks/leak_audit.py, and it would repeat for every model); groups are still audited.
Prints accuracy, unweighted accuracy (balanced) and macro-F1 as the mean over folds of each fold's seed mean,
the std across folds and the std across seeds, with each model's wall time.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPES = {"fsdd": "fsdd_cpu", "esc50": "esc50_cpu", "emodb": "emodb_cpu"}
CNN_RECIPES = {"fsdd": "fsdd_cnn", "esc50": "esc50_cnn", "emodb": "emodb_cnn"}


def _row(name: str, summary: dict, seconds: float) -> str:
    cells = []
    for metric in ("accuracy", "balanced_accuracy", "macro_f1"):
        stats = summary["metrics"].get(metric, {})
        cells.append(f"{stats['mean']:.1%} ± {stats['std']:.1%} (seeds ± {stats.get('std_seeds') or 0:.1%})" if stats.get("mean") is not None else "n/a")
    return f"| {name} | " + " | ".join(cells) + f" | {seconds / 60:.1f} min |"


def _run(recipe: dict | Path, root: Path, out: Path, overrides: list[str]) -> tuple[dict, float]:
    import json

    from sonolab.train.config import load_recipe, validate_recipe
    from sonolab.train.runner import run

    resolved = load_recipe(recipe, overrides) if isinstance(recipe, Path) else validate_recipe(recipe)
    started = time.perf_counter()
    run_dir = run(resolved, root=root, out_dir=out, progress=False)
    return json.loads((run_dir / "summary.json").read_text()), time.perf_counter() - started


def benchmark(dataset: str, root: Path, work: Path, cnn: bool) -> list[str]:
    split = {"fsdd": {"strategy": "loso"}, "emodb": {"strategy": "loso"}, "esc50": {"strategy": "official"}}[dataset]
    lines = [f"### {dataset} at {root}", "", "| model | accuracy | UA (balanced) | macro-F1 | wall |", "| --- | --- | --- | --- | --- |"]
    summary, seconds = _run(REPO / "recipes" / f"{RECIPES[dataset]}.yaml", root, work / "cpu", ["baseline.enabled=false", "audit.content=never"])
    lines.append(_row(f"`{RECIPES[dataset]}.yaml` (head selected on inner CV: {summary.get('best_trial')})", summary, seconds))
    for name, features in (("openSMILE ComParE_2016 + linear SVM", {"kind": "opensmile", "feature_set": "ComParE_2016"}),
                           ("functionals + linear SVM (sonolab's baseline)", {"kind": "functionals"})):
        recipe = {"task": "classical", "dataset": dataset, "features": features, "split": split,
                  "head": {"name": "linear_svm"}, "baseline": {"enabled": False}, "audit": {"content": "never"}}
        summary, seconds = _run(recipe, root, work / name.split()[0], [])
        lines.append(_row(name, summary, seconds))
    if dataset == "fsdd":
        from fsdd_loso import mfcc_svm_baseline

        started = time.perf_counter()
        result = mfcc_svm_baseline(root)
        import numpy as np

        acc, ua = np.asarray(result["accuracy"]), np.asarray(result["balanced_accuracy"])
        lines.append(f"| MFCC statistics + RBF SVM (C=10) | {acc.mean():.1%} ± {acc.std(ddof=1):.1%} | {ua.mean():.1%} ± {ua.std(ddof=1):.1%} "
                     f"| n/a | {(time.perf_counter() - started) / 60:.1f} min |")
    if cnn:
        summary, seconds = _run(REPO / "recipes" / f"{CNN_RECIPES[dataset]}.yaml", root, work / "cnn", ["baseline.enabled=false", "audit.content=never"])
        lines.append(_row(f"`{CNN_RECIPES[dataset]}.yaml`", summary, seconds))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fsdd", type=Path, default=REPO.parent / "shared" / "data" / "fsdd")
    parser.add_argument("--esc50", type=Path, default=None)
    parser.add_argument("--emodb", type=Path, default=None)
    parser.add_argument("--cnn", action="store_true", help="also the CNN recipe (hours on a CPU for ESC-50)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sonolab-cpu-models-"))
    for dataset, root in (("fsdd", args.fsdd), ("esc50", args.esc50), ("emodb", args.emodb)):
        if root is not None and Path(root).is_dir():
            print("\n".join(benchmark(dataset, Path(root), work / dataset, args.cnn)), flush=True)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
