"""Re-score a finished CNN (`classification`) run's saved models with other `group_spreading` settings, beside the
settings they were saved with, under sonolab's summary convention (the mean over folds of each fold's seed-averaged
score; std across folds; std across seeds separately). The models are not retrained: spreading only post-processes
their probabilities, so this is what a run with the other settings would score (training does not depend on them).

    python benchmarks/spreading_rescore.py RUN_DIR [RUN_DIR ...] --neighbours 5 --alpha 0.9 --graph inputs+probabilities
    python benchmarks/spreading_rescore.py RUN_DIR ... --neighbours 5 --alpha 0.9 --graph inputs+probabilities --test

It scores each fold's validation partition unless `--test` is given: choose settings on validation, freeze them in
the recipe, and only then score the test partitions once. Several RUN_DIRs are pooled (e.g. seeds run as separate
processes of one recipe).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sonolab.models.group_spreading import GRAPHS, SpreadingSettings
from sonolab.train.predict import evaluate_run

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import convention_line  # noqa: E402


def scored(run_dirs: list[Path], root: Path | None, partition: str, spreading: SpreadingSettings | None) -> list[dict]:
    """Every saved model's scores on `partition` (None: with the settings it was saved with)."""
    return [run for run_dir in run_dirs for run in evaluate_run(run_dir, root, progress=False, partition=partition,
                                                                   spreading=spreading)["runs"]]


def line(label: str, runs: list[dict], metric: str) -> str:
    """The summary-convention line of `metric` over the scored runs."""
    return convention_line(label, [(run["fold"], run["seed"], run[metric]) for run in runs])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--neighbours", type=int, required=True)
    parser.add_argument("--alpha", type=float, required=True)
    parser.add_argument("--graph", choices=GRAPHS, default="inputs")
    parser.add_argument("--root", type=Path, default=None, help="the data root, when it moved since training")
    parser.add_argument("--metric", default="accuracy")
    parser.add_argument("--test", action="store_true", help="score the test partitions (only once the settings are frozen)")
    args = parser.parse_args()
    partition = "test" if args.test else "val"
    settings = SpreadingSettings(args.neighbours, args.alpha, args.graph)
    saved = scored(args.run_dirs, args.root, partition, None)
    other = scored(args.run_dirs, args.root, partition, settings)
    print(f"fold      seed  {partition} {args.metric}: saved settings / k {settings.neighbours}, alpha {settings.alpha}, graph {settings.graph}")
    for before, after in zip(saved, other):
        print(f"{before['fold']:<9} {before['seed']:>4}  {100 * before[args.metric]:5.1f} / {100 * after[args.metric]:5.1f}")
    print(line(f"{partition} {args.metric}, saved settings", saved, args.metric))
    print(line(f"{partition} {args.metric}, k {settings.neighbours}, alpha {settings.alpha}, graph {settings.graph}", other, args.metric))
    better = sum(a[args.metric] > b[args.metric] for a, b in zip(other, saved))
    worse = sum(a[args.metric] < b[args.metric] for a, b in zip(other, saved))
    print(f"models better / worse with the other settings: {better} / {worse} of {len(saved)}")


if __name__ == "__main__":
    main()
