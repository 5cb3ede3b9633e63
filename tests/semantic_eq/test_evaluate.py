"""Honest evaluation: vocabulary from training contributors, held-out figures from held-out rows only,
training-fit diagnostics apart, several splits with a paired comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sonolab.audio.eq import EqSetting
from sonolab.data.safe import SafeDataset, SafeRow, bundled_safe_csv, grouped_holdout, load_safe_csv
from sonolab.semantic_eq.evaluate import evaluate_generators, splits_markdown, summarise_splits, table_markdown
from sonolab.semantic_eq.generators import MedianGenerator, RandomGenerator
from sonolab.semantic_eq.splits import vocabulary_split

WARM_SETTING = EqSetting(low_shelf_gain_db=6.0, low_shelf_cutoff_hz=200.0, high_shelf_gain_db=-4.0, high_shelf_cutoff_hz=5000.0)
BRIGHT_SETTING = EqSetting(low_shelf_gain_db=-3.0, low_shelf_cutoff_hz=150.0, high_shelf_gain_db=6.0, high_shelf_cutoff_hz=6000.0)


def _dataset(rng: np.random.Generator, contributors: int = 20) -> SafeDataset:
    """Synthetic SAFE rows: every contributor gives 6 warm and 6 bright settings around a prototype."""
    rows = []
    for contributor in range(contributors):
        for term, prototype in (("warm", WARM_SETTING), ("bright", BRIGHT_SETTING)):
            for take in range(6):
                vector = prototype.to_vector()
                vector[[0, 11]] += rng.normal(0.0, 1.0, 2)
                rows.append(SafeRow(len(rows) + 1, f"{len(rows)}", term, term, f"contributor:{contributor:03d}", EqSetting.from_vector(vector)))
    return SafeDataset(Path("synthetic.csv"), rows, ["warm", "bright"])


def test_vocabulary_is_counted_on_training_contributors_only() -> None:
    dataset = _dataset(np.random.default_rng(0))
    train_index, holdout_index = grouped_holdout(dataset, 0.25, seed=3)
    held_out_contributor = dataset.rows[holdout_index[0]].contributor_id
    training_contributor = dataset.rows[train_index[0]].contributor_id
    # "boomy": 4 training rows and 3 held-out rows: 7 in all, but fewer than 5 from training contributors
    extra = [(training_contributor, 4), (held_out_contributor, 3)]
    for contributor, count in extra:
        for _ in range(count):
            dataset.rows.append(SafeRow(len(dataset.rows) + 1, "x", "boomy", "boomy", contributor, WARM_SETTING))
    dataset.terms.append("boomy")
    train_index, holdout_index, vocabulary = vocabulary_split(dataset, 0.25, 3, min_count_per_term=5)
    assert vocabulary == ["bright", "warm"] or vocabulary == ["warm", "bright"]
    assert "boomy" not in set(dataset.labels()[train_index]) | set(dataset.labels()[holdout_index])
    _, _, vocabulary = vocabulary_split(dataset, 0.25, 3, min_count_per_term=4)
    assert "boomy" in vocabulary  # 4 training rows now suffice, whatever the held-out rows


class _Oracle:
    """A generator that returns the held-out contributors' own mean setting: perfect on held-out rows."""

    name = "model"

    def __init__(self, settings: dict[str, EqSetting]) -> None:
        self.settings, self.terms = settings, list(settings)

    def generate(self, term: str, strength: float = 1.0) -> EqSetting:
        return self.settings[term]

    def sample(self, term: str, count: int, seed: int = 0, strength: float = 1.0) -> list[EqSetting]:
        return [self.settings[term]] * count


def test_held_out_figures_use_held_out_rows_and_training_fit_is_reported_apart() -> None:
    dataset = _dataset(np.random.default_rng(1))
    train_index, holdout_index, _ = vocabulary_split(dataset, 0.25, 0, 5)
    labels = dataset.labels()
    for index in holdout_index:  # every held-out human setting is exactly the prototype
        row = dataset.rows[index]
        dataset.rows[index] = SafeRow(row.row_number, row.entry_id, row.term, row.raw_descriptor, row.contributor_id, WARM_SETTING if row.term == "warm" else BRIGHT_SETTING)
    oracle = _Oracle({"warm": WARM_SETTING, "bright": BRIGHT_SETTING})
    median = MedianGenerator.fit(dataset.vectors()[train_index], labels[train_index], ["warm", "bright"])
    results = evaluate_generators(dataset, train_index, holdout_index, [oracle, median, RandomGenerator(["warm", "bright"], 0)])
    held, fit = results["held_out"]["generators"], results["training_fit"]["generators"]
    assert held["model"]["response_rmse_db_rows"] == pytest.approx(0.0, abs=1e-9)  # scored on held-out rows only
    assert fit["model"]["response_rmse_db_rows"] > 0.3  # the training rows are noisy: a separate figure
    assert held["median"]["response_rmse_db_rows"] > 0.0 and held["random"]["response_rmse_db_rows"] > held["median"]["response_rmse_db_rows"]
    shares = results["held_out"]["closer_to_model_than_median"]
    assert set(shares) == {"warm", "bright"} and all(value["share"] == 1.0 and value["rows"] >= 10 for value in shares.values())
    assert results["rows_holdout"] == len(holdout_index) and sum(results["holdout_term_counts"].values()) == len(holdout_index)
    flat = str(results)
    assert "within_limits" not in flat  # a metric that cannot fail is not reported
    assert "accuracy_all_terms_generate" in fit["model"] and "accuracy_all_terms_generate" not in held["model"]
    text = table_markdown(results)
    assert "| held-out metric | model | median | random | human held-out |" in text and "Training-fit diagnostics" in text


def _split(seed: int, model_db: float, median_db: float) -> dict:
    generators = {name: {"response_rmse_db_rows": value, "response_rmse_db_terms": value} for name, value in (("model", model_db), ("median", median_db), ("random", 8.0))}
    return {
        "seed": seed, "vocabulary": ["warm", "bright"], "rows_holdout": 100,
        "held_out": {"generators": generators, "closer_to_model_than_median": {"warm": {"share": 0.5, "rows": 40}}, "human": {}},
        "training_fit": {"generators": generators},
    }


def test_the_model_must_beat_the_median_beyond_the_split_spread() -> None:
    consistent = summarise_splits([_split(seed, 5.0 - 0.01 * seed, 5.2) for seed in range(5)])
    assert consistent["paired"]["model_beats_median"] and consistent["paired"]["model_wins"] == 5
    noisy = summarise_splits([_split(seed, m, 5.0) for seed, m in enumerate([4.9, 5.2, 4.95, 4.6, 5.3])])
    assert not noisy["paired"]["model_beats_median"] and noisy["paired"]["better_generator"] == "median"
    assert noisy["held_out"]["response_rmse_db_rows"]["model"]["n"] == 5
    assert noisy["held_out"]["response_rmse_db_rows"]["model"]["std"] == pytest.approx(np.std([4.9, 5.2, 4.95, 4.6, 5.3], ddof=1))
    assert "does **not** beat" in splits_markdown(noisy)


def test_evaluate_splits_runs_end_to_end_on_the_bundled_copy() -> None:
    from sonolab.semantic_eq.evaluate import evaluate_splits
    from sonolab.semantic_eq.train import EqTrainConfig

    dataset = load_safe_csv(bundled_safe_csv(), min_count_per_term=1)
    summary = evaluate_splits(dataset, [0, 1], EqTrainConfig(epochs=1, hidden_size=8, latent_size=2, anchor_steps=2))
    assert summary["seeds"] == [0, 1] and len(summary["splits"]) == 2
    for split in summary["splits"]:
        counts = split["train_term_counts"]
        assert all(count >= 5 for count in counts.values())  # the vocabulary rule, on training rows
        assert set(split["holdout_term_counts"]) <= set(split["vocabulary"])
    assert summary["held_out"]["response_rmse_db_rows"]["random"]["mean"] > summary["held_out"]["response_rmse_db_rows"]["median"]["mean"]
