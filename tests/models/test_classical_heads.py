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


def _wide_dataset(seed: int, n_classes: int = 3, n_groups: int = 4, per_cell: int = 3, dim: int = 120):
    """More features than rows (as ComParE's 6,373 on EmoDB's ~480 rows): few informative, many noise columns."""
    x, y, g = _dataset(seed, n_classes=n_classes, n_groups=n_groups, per_cell=per_cell, dim=6)
    noise = np.random.default_rng(seed + 100).normal(size=(len(x), dim - 6))
    return np.hstack([x, noise]), y, g


@pytest.mark.parametrize("head", ["logistic_regression", "linear_svm", "rbf_svm"])
def test_inner_cv_scores_equal_scikit_learns_grid_search(head):
    """The hand-rolled inner loop (preprocessing once per split, the RBF kernel precomputed) scores every grid point
    exactly as GridSearchCV on the plain pipeline does, and picks the same point."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC, LinearSVC
    from sklearn.linear_model import LogisticRegression

    x, y, g = _wide_dataset(6, dim=40)
    settings = ClassicalHeadSettings(c_grid=(0.01, 0.1, 1.0), gamma_scale_grid=(0.3, 3.0), row_space=False, max_iter=5000)
    fitted = fit_classical_head(x, y, g, head, settings)
    model = {"logistic_regression": LogisticRegression(class_weight="balanced", max_iter=5000),
             "linear_svm": LinearSVC(class_weight="balanced", max_iter=5000, random_state=0, dual="auto"),
             "rbf_svm": SVC(kernel="rbf", class_weight="balanced")}[head]
    grid = [{f"model__{k}": [v] for k, v in entry["params"].items()} for entry in fitted.inner_cv_scores]
    search = GridSearchCV(Pipeline([("scaler", StandardScaler()), ("model", model)]), grid, scoring="balanced_accuracy",
                          cv=inner_splits(g)).fit(x, y)
    np.testing.assert_allclose([e["mean"] for e in fitted.inner_cv_scores], search.cv_results_["mean_test_score"], atol=1e-12)
    assert fitted.chosen == {k.removeprefix("model__"): v for k, v in search.best_params_.items()}
    assert len({e["mean"] for e in fitted.inner_cv_scores}) > 1  # the grid points differ, so the comparison can fail


@pytest.mark.parametrize("head", ["logistic_regression", "linear_svm"])
def test_row_space_rotation_leaves_the_linear_model_unchanged(head, tmp_path):
    """With more features than rows the linear heads are fitted on the rows' span: same choice, same inner-CV
    scores and the same decisions on new rows (to solver tolerance) as fitting on all features."""
    x, y, g = _wide_dataset(7)
    x_new = _wide_dataset(8)[0]
    settings = ClassicalHeadSettings(c_grid=(0.001, 0.1, 10.0), max_iter=20000)
    rotated = fit_classical_head(x, y, g, head, settings)
    plain = fit_classical_head(x, y, g, head, ClassicalHeadSettings(c_grid=(0.001, 0.1, 10.0), max_iter=20000, row_space=False))
    assert "row_space" in rotated.sklearn_pipeline.named_steps and "row_space" not in plain.sklearn_pipeline.named_steps
    assert rotated.chosen == plain.chosen
    np.testing.assert_allclose([e["mean"] for e in rotated.inner_cv_scores], [e["mean"] for e in plain.inner_cv_scores], atol=1e-9)
    scale = np.abs(plain.decision_function(x_new)).max()
    np.testing.assert_allclose(rotated.decision_function(x_new), plain.decision_function(x_new), atol=1e-3 * scale)
    np.testing.assert_array_equal(rotated.predict(x_new), plain.predict(x_new))
    # the saved head holds weights over the original (standardised) features and predicts like the fitted pipeline
    assert rotated.arrays["coef"].shape[1] == x.shape[1]
    np.testing.assert_allclose(load_classical_head(rotated.save(tmp_path / "h")).decision_function(x_new),
                               rotated.sklearn_pipeline.decision_function(x_new), rtol=1e-7, atol=1e-8)


def test_parallel_inner_folds_equal_in_process_ones(monkeypatch):
    import sonolab.models.classical as classical

    x, y, g = _wide_dataset(9, dim=30)
    settings = ClassicalHeadSettings(c_grid=(0.01, 1.0), gamma_scale_grid=(0.5, 2.0))
    monkeypatch.setattr(classical, "PARALLEL_MIN_WORK", 0)  # force the worker processes on this small problem
    parallel = fit_classical_head(x, y, g, "rbf_svm", settings)
    serial = fit_classical_head(x, y, g, "rbf_svm", ClassicalHeadSettings(c_grid=(0.01, 1.0), gamma_scale_grid=(0.5, 2.0), inner_jobs=1))
    assert parallel.inner_cv_scores == serial.inner_cv_scores and parallel.chosen == serial.chosen
    assert parallel.temperature == serial.temperature


def test_the_linear_svm_solves_tall_data_by_the_dual_to_the_primals_model():
    """Rows outnumber features (as FSDD's 2,500 x 290): the head uses liblinear's dual solver (faster there), which
    reaches the primal solver's model: same inner-CV choice and scores, same decisions to solver tolerance."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    x, y, g = _dataset(11, n_classes=4, n_groups=5, per_cell=15, dim=6)  # 300 rows x 6 features
    x_new = _dataset(12, n_classes=4, n_groups=5, per_cell=15, dim=6)[0]
    settings = ClassicalHeadSettings(c_grid=(0.001, 0.1, 10.0), max_iter=100000)
    fitted = fit_classical_head(x, y, g, "linear_svm", settings)
    assert fitted.sklearn_pipeline.named_steps["model"].dual is True
    primal = LinearSVC(class_weight="balanced", max_iter=100000, random_state=0, dual=False, tol=1e-8)
    search = GridSearchCV(Pipeline([("scaler", StandardScaler()), ("model", primal)]),
                          {"model__C": [0.001, 0.1, 10.0]}, scoring="balanced_accuracy", cv=inner_splits(g)).fit(x, y)
    np.testing.assert_allclose([e["mean"] for e in fitted.inner_cv_scores], search.cv_results_["mean_test_score"], atol=0.01)
    assert fitted.chosen == {"C": search.best_params_["model__C"]}
    reference = search.best_estimator_.decision_function(x_new)
    np.testing.assert_allclose(fitted.decision_function(x_new), reference, atol=0.01 * np.abs(reference).max())
