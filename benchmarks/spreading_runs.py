"""Pool the fold x seed records of one or more finished runs of the same recipe (e.g. seeds run as separate
processes) and print, under sonolab's summary convention (the mean over folds of each fold's seed-averaged score;
std across folds; std across seeds separately), the validation and test scores with and without `group_spreading`.

    python benchmarks/spreading_runs.py RUN_DIR [RUN_DIR ...] [--metric accuracy] [--validation-only]

`--validation-only` prints no test score: use it while a setting is still being chosen. A classical head fitted on
train + validation has no validation partition (its validation is the inner CV: `metrics.json: head.inner_cv`, with
`mean_without_spreading` beside each grid point's `mean`), so its validation cells read "-".
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import convention_line  # noqa: E402


def records(run_dirs: list[Path]) -> list[dict]:
    """Every fold x seed record directly under the given folders (`<fold>/seed_<s>/metrics.json`; for a sweep, pass
    its trial's folder)."""
    return [json.loads(path.read_text()) for run_dir in run_dirs for path in sorted(run_dir.glob("*/seed_*/metrics.json"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--metric", default="accuracy")
    parser.add_argument("--validation-only", action="store_true")
    args = parser.parse_args()
    found = [r for r in records(args.run_dirs) if r.get("group_spreading")]
    if not found:
        raise SystemExit("no fold/seed record with group_spreading in these runs")
    metric = args.metric
    partitions = ["val"] + ([] if args.validation_only else ["test"])
    print("fold      seed  " + "  ".join(f"{p} with / without" for p in partitions))
    for record in sorted(found, key=lambda r: (r["fold"], r["seed"])):
        without = record["group_spreading"]["without"]
        cells = [f"{100 * record[p][metric]:5.1f} / {100 * without[p][metric]:5.1f}" if p in without else "      -       "
                 for p in partitions]
        print(f"{record['fold']:<9} {record['seed']:>4}  " + "      ".join(cells))
    for partition in partitions:
        with_rows = [(r["fold"], r["seed"], r[partition][metric]) for r in found if partition in r["group_spreading"]["without"]]
        without_rows = [(r["fold"], r["seed"], r["group_spreading"]["without"][partition][metric]) for r in found
                        if partition in r["group_spreading"]["without"]]
        if with_rows:
            print(convention_line(f"{partition} {metric} with spreading   ", with_rows))
            print(convention_line(f"{partition} {metric} without spreading", without_rows))


if __name__ == "__main__":
    main()
