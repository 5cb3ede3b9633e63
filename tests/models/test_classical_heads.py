"""Classical heads: inner CV only on training rows and grouped, numpy predictions equal scikit-learn's,
save/load without pickle round-trips exactly."""

from __future__ import annotations

import numpy as np
import pytest

from sonolab.errors import ConfigError, DatasetError
from sonolab.models.classical import (
    ClassicalHeadSettings,
    fit_classical_head,
    inner_splits,
    load_classical_head,
)


def _dataset(seed: int, n_classes: int = 3, n_groups: int = 5, per_cell: int = 4, dim: int = 6):
    """Class means plus a per-group offset (a 'speaker' effect) plus noise."""
    rng = np.random.default_rng(seed)
    means = rng.normal(0.0, 2.0, size=(n_classes, dim))
    rows, labels, groups = [], [], []
    for g in range(n_groups):
        offset = rng.normal(0.0, 1.0, size=dim)
        for c in range(n_classes):
            rows.append(means[c] + offset + rng.normal(0.0, 1.0, size=(per_cell, dim)))
            labels += [f"class{c}"] * per_cell
            groups += [f"g{g}"] * per_cell
    return np.vstack(rows), np.array(labels), np.array(groups)


@pytest.mark.parametrize("head", ["logistic_regression", "linear_svm", "rbf_svm"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_numpy_predictions_equal_sklearn_and_survive_save_load(head, n_classes, tmp_path):
    x, y, g = _dataset(0, n_classes=n_classes)
    fitted = fit_classical_head(x, y, g, head, ClassicalHeadSettings(c_grid=(0.1, 1.0), gamma_scale_grid=(0.5, 2.0)))
    x_new = _dataset(1, n_classes=n_classes)[0]
    pipeline = fitted.sklearn_pipeline
    np.testing.assert_allclose(fitted.decision_function(x_new), pipeline.decision_function(x_new), rtol=1e-7, atol=1e-8)
    np.testing.assert_array_equal(fitted.predict(x_new), pipeline.predict(x_new))
    if head == "logistic_regression":
        np.testing.assert_allclose(fitted.predict_proba(x_new), pipeline.predict_proba(x_new), rtol=1e-7, atol=1e-10)
    probabilities = fitted.predict_proba(x_new)
    assert probabilities.shape == (len(x_new), n_classes)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    # probabilities agree with the decision: the most probable class is the predicted one
    np.testing.assert_array_equal(fitted.classes[probabilities.argmax(axis=1)], fitted.predict(x_new))
    loaded = load_classical_head(fitted.save(tmp_path / "head"))
    assert loaded.sklearn_pipeline is None and loaded.chosen == fitted.chosen and loaded.head == head
    np.testing.assert_array_equal(loaded.classes, fitted.classes)
    np.testing.assert_array_equal(loaded.predict_proba(x_new), probabilities)
    np.testing.assert_array_equal(loaded.predict(x_new), pipeline.predict(x_new))
    assert sorted(p.name for p in (tmp_path / "head").iterdir()) == ["head.json", "head.safetensors"]


def test_inner_cv_is_grouped_and_uses_only_the_training_rows():
    x, y, g = _dataset(2, n_groups=6)
    test_group = "g5"
    train = g != test_group
    splits = inner_splits(g[train])
    assert len(splits) == 5  # leave-one-group-out over the 5 training groups
    for fit_rows, validation_rows in splits:
        assert set(g[train][fit_rows]).isdisjoint(set(g[train][validation_rows]))
        assert max(fit_rows.max(), validation_rows.max()) < train.sum()
    settings = ClassicalHeadSettings(c_grid=(0.001, 0.1, 10.0), gamma_scale_grid=(0.1, 1.0, 10.0))
    first = fit_classical_head(x[train], y[train], g[train], "rbf_svm", settings)
    # Permute the test fold's labels (and shuffle its features): nothing the head chose may change.
    rng = np.random.default_rng(3)
    y_permuted = y.copy()
    y_permuted[~train] = rng.permutation(y[~train])
    x_changed = x.copy()
    x_changed[~train] = rng.normal(size=x_changed[~train].shape) * 50
    again = fit_classical_head(x_changed[train], y_permuted[train], g[train], "rbf_svm", settings)
    assert again.chosen == first.chosen and again.inner_cv_scores == first.inner_cv_scores
    assert first.n_training_rows == int(train.sum())
    # ...while the training rows' labels do matter (the test above can fail)
    y_train_permuted = rng.permutation(y[train])
    other = fit_classical_head(x[train], y_train_permuted, g[train], "rbf_svm", settings)
    assert other.inner_cv_scores != first.inner_cv_scores


def test_chosen_hyperparameters_and_scores_are_reported():
    x, y, g = _dataset(4)
    head = fit_classical_head(x, y, g, "logistic_regression", ClassicalHeadSettings(c_grid=(0.01, 1.0), scoring="macro_f1"))
    assert head.chosen["C"] in (0.01, 1.0)
    assert len(head.inner_cv_scores) == 2 and head.scoring == "macro_f1"
    best = max(head.inner_cv_scores, key=lambda entry: entry["mean"])
    assert best["params"]["C"] == head.chosen["C"]
    assert (head.predict(x) == y).mean() > 0.8  # separable classes are learned


def test_bad_inputs_are_refused():
    x, y, g = _dataset(5)
    with pytest.raises(ConfigError, match="unknown classical head"):
        fit_classical_head(x, y, g, "random_forest")
    with pytest.raises(DatasetError, match="at least 2 groups"):
        fit_classical_head(x, y, np.zeros(len(y)), "linear_svm")
    with pytest.raises(ConfigError, match="'gama'"):
        ClassicalHeadSettings.from_dict({"gama": 1})
