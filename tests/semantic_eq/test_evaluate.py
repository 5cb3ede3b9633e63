"""Held-out evaluation: every metric beside the two reference generators."""

from __future__ import annotations

from sonolab.data.safe import bundled_safe_csv, grouped_holdout, load_safe_csv
from sonolab.semantic_eq.default import load_eq_model
from sonolab.semantic_eq.evaluate import evaluate_generators, table_markdown
from sonolab.semantic_eq.generators import MedianGenerator, RandomGenerator


def test_evaluation_reports_model_median_and_random_on_held_out_contributors() -> None:
    model = load_eq_model()
    dataset = load_safe_csv(bundled_safe_csv())
    train_index, holdout_index = grouped_holdout(dataset, 0.2, 0)
    median = MedianGenerator.fit(dataset.vectors()[train_index], dataset.labels()[train_index], model.terms)
    results = evaluate_generators(dataset, train_index, holdout_index, [model, median, RandomGenerator(model.terms, 0)])
    generators = results["generators"]
    assert set(generators) == {"model", "median", "random"}
    assert set(results["terms_evaluated"]) >= {"warm", "bright"}
    for name in ("model", "median"):
        assert generators[name]["response_rmse_db_rows"] < generators["random"]["response_rmse_db_rows"]
        assert generators[name]["accuracy_warm_vs_bright_generate"] == 1.0
    assert all(report["all_outputs_within_limits"] for report in generators.values())
    # the shipped model's term settings (response-space anchors) beat the per-term parameter median on the
    # held-out contributors' curves on this (seed 0) split: 5.18 vs 5.25 dB. A regression guard for the shipped
    # model only: on other splits the row-mean gain is within +-0.03 dB (seed 1: 4.02 vs 3.99 for the median)
    assert generators["model"]["response_rmse_db_rows"] < generators["median"]["response_rmse_db_rows"]
    assert generators["model"]["latent_silhouette"] > results["human_holdout"]["parameter_space_silhouette"]
    assert generators["model"]["latent_silhouette"] is not None and "latent_silhouette" not in generators["median"]
    human_bright = results["human_holdout"]["bright_high_shelf_cutoff"]
    assert human_bright["p90_hz"] > human_bright["p10_hz"]
    table = table_markdown(results)
    assert "| metric | model | median | random | human held-out |" in table
