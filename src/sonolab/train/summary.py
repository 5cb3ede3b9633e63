"""One summary convention for every task, report and benchmark.

A run trains every fold with every seed. Fold x seed runs are not independent samples: the seeds of one
fold share its test partition. So the headline of a metric is the mean over folds of each fold's
seed-averaged score; its spread is the std across those fold means (`std`, = `std_folds`); the effect of
the seed is reported separately as the std across the seeds' fold-averaged scores (`std_seeds`, computed
over the seeds that ran on every fold). Stds are sample stds (ddof=1); one value gives 0, none gives None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

CONVENTION = ("mean over folds of each fold's seed-averaged score; std = std across folds (ddof=1); "
              "std_seeds = std across seeds of each seed's fold-averaged score (ddof=1)")


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _sample_std(values: Sequence[float]) -> float | None:
    if not values:
        return None
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def fold_seed_stats(rows: Sequence[tuple[Any, Any, Any]]) -> dict[str, Any]:
    """Headline statistics of one metric from `(fold, seed, value)` rows (non-finite values are skipped)."""
    by_fold: dict[str, dict[str, float]] = {}
    for fold, seed, value in rows:
        number = _finite(value)
        if number is not None:
            by_fold.setdefault(str(fold), {})[str(seed)] = number
    if not by_fold:
        return {"mean": None, "std": None, "std_folds": None, "std_seeds": None, "n_folds": 0, "n_seeds": 0, "n": 0}
    fold_means = [float(np.mean(list(seeds.values()))) for seeds in by_fold.values()]
    all_seeds = list(dict.fromkeys(seed for seeds in by_fold.values() for seed in seeds))
    complete = [seed for seed in all_seeds if all(seed in seeds for seeds in by_fold.values())]
    seed_means = [float(np.mean([seeds[seed] for seeds in by_fold.values()])) for seed in complete]
    std_folds = _sample_std(fold_means)
    return {
        "mean": float(np.mean(fold_means)), "std": std_folds, "std_folds": std_folds,
        "std_seeds": _sample_std(seed_means) if len(complete) else None,
        "n_folds": len(fold_means), "n_seeds": len(all_seeds), "n": sum(len(seeds) for seeds in by_fold.values()),
    }


def summarize_records(records: list[dict[str, Any]], metric_names: Sequence[str]) -> dict[str, Any]:
    """The summary of a trial's fold x seed records (each with `fold`, `seed`, `test`, `val`, `fit`)."""
    def rows(part: str, name: str) -> list[tuple[str, int, Any]]:
        return [(record["fold"], record["seed"], record.get(part, {}).get(name)) for record in records]

    names = [name for name in metric_names if any(_finite(record.get("test", {}).get(name)) is not None for record in records)]
    folds = list(dict.fromkeys(record["fold"] for record in records))
    seeds = list(dict.fromkeys(record["seed"] for record in records))
    per_fold = [{"fold": fold, "seeds": sum(1 for r in records if r["fold"] == fold),
                 **{name: fold_seed_stats([row for row in rows("test", name) if row[0] == fold]) for name in names}}
                for fold in folds]
    per_seed = [{"seed": seed, "folds": sum(1 for r in records if r["seed"] == seed),
                 **{name: fold_seed_stats([row for row in rows("test", name) if row[1] == seed]) for name in names}}
                for seed in seeds]
    runs = []
    for record in records:
        fit = record.get("fit") or {}
        entry = {"fold": record["fold"], "seed": record["seed"], "test_count": record.get("test", {}).get("count")}
        if fit:
            entry.update(best_epoch=fit.get("best_epoch"), epochs_run=fit.get("epochs_run"))
        entry.update({name: record["test"].get(name) for name in names})
        entry.update({"val_" + name: record["val"][name] for name in names if name in record.get("val", {})})
        runs.append(entry)
    return {
        "convention": CONVENTION,
        "n_folds": len(folds), "n_seeds": len(seeds),
        "metrics": {name: fold_seed_stats(rows("test", name)) for name in names},
        # The selection score of each run (the monitor at the restored epoch, or the task's own validation score).
        "val_monitor": fold_seed_stats([(r["fold"], r["seed"], r.get("val_monitor")) for r in records]),
        # The restored model's scores on each fold's validation partition: what a recipe change may be chosen by.
        "val_metrics": {name: fold_seed_stats(rows("val", name)) for name in names
                        if all(name in record.get("val", {}) for record in records)},
        "per_fold": per_fold,
        "per_seed": per_seed,
        "runs": runs,
    }


def spreading_summary(records: list[dict[str, Any]], metric_names: Sequence[str]) -> dict[str, Any] | None:
    """With `group_spreading`: its settings and the same models' test (and validation) scores without it, under the
    same convention, so that the report can show what the transductive step changed; None when it was off."""
    spread = [record for record in records if record.get("group_spreading")]
    if not spread:
        return None
    settings = {key: value for key, value in spread[0]["group_spreading"].items() if key != "without"}
    without = [{**record, "test": record["group_spreading"]["without"]["test"]} for record in spread]
    result = {**settings, "without": summarize_records(without, metric_names)["metrics"]}
    with_val = [record for record in spread if "val" in record["group_spreading"]["without"]]

    def val_stats(scores_of: Any) -> dict[str, Any]:
        return {name: fold_seed_stats([(r["fold"], r["seed"], scores_of(r).get(name)) for r in with_val])
                for name in metric_names if name in scores_of(with_val[0])}

    if with_val:
        result["val"] = val_stats(lambda record: record["val"])
        result["val_without"] = val_stats(lambda record: record["group_spreading"]["without"]["val"])
    return result
