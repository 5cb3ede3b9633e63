"""One summary convention: mean over folds of each fold's seed mean; std across folds; std across seeds."""

from __future__ import annotations

import numpy as np
import pytest

from sonolab.train.summary import fold_seed_stats, summarize_records


def test_headline_is_the_mean_of_fold_means_not_a_pool_of_runs() -> None:
    # fold A: seeds 0.9, 0.7 (mean 0.8); fold B: 0.5 (seed 0), 0.3 (seed 1) (mean 0.4)
    rows = [("A", 0, 0.9), ("A", 1, 0.7), ("B", 0, 0.5), ("B", 1, 0.3)]
    stats = fold_seed_stats(rows)
    assert stats["mean"] == pytest.approx(0.6)
    assert stats["std"] == stats["std_folds"] == pytest.approx(np.std([0.8, 0.4], ddof=1))
    # seed 0 averages 0.7 over folds, seed 1 0.5: the seed spread is reported on its own
    assert stats["std_seeds"] == pytest.approx(np.std([0.7, 0.5], ddof=1))
    assert (stats["n_folds"], stats["n_seeds"], stats["n"]) == (2, 2, 4)
    pooled_std = np.std([0.9, 0.7, 0.5, 0.3], ddof=1)
    assert stats["std"] != pytest.approx(pooled_std)


def test_unequal_seed_counts_weigh_every_fold_equally_and_skip_missing_values() -> None:
    stats = fold_seed_stats([("A", 0, 1.0), ("A", 1, 1.0), ("A", 2, 1.0), ("B", 0, 0.0), ("B", 1, None)])
    assert stats["mean"] == pytest.approx(0.5)  # not 3/4: fold A's three seeds do not outvote fold B
    assert stats["std_seeds"] == pytest.approx(np.std([0.5], ddof=0))  # only seed 0 ran on both folds
    assert fold_seed_stats([("A", 0, float("nan"))])["mean"] is None


def test_summary_names_its_convention_and_counts() -> None:
    records = [{"fold": f, "seed": s, "test": {"accuracy": a, "count": 10}, "val": {"accuracy": a - 0.1}, "val_monitor": 1 - a}
               for f, s, a in [("A", 0, 0.9), ("A", 1, 0.7), ("B", 0, 0.5), ("B", 1, 0.3)]]
    summary = summarize_records(records, ("accuracy", "macro_f1"))
    assert "mean over folds" in summary["convention"]
    assert (summary["n_folds"], summary["n_seeds"]) == (2, 2)
    assert list(summary["metrics"]) == ["accuracy"]  # a metric no record carries is left out
    assert summary["val_metrics"]["accuracy"]["mean"] == pytest.approx(0.5)
    assert summary["val_monitor"]["mean"] == pytest.approx(0.4)
    assert [row["fold"] for row in summary["per_fold"]] == ["A", "B"]
