"""Transductive label spreading inside each group: it uses no label and no other group, keeps probabilities
normalised, and corrects a classifier's scattered mistakes inside tight clusters of one speaker's clips."""

from __future__ import annotations

import numpy as np
import pytest

from sonolab.errors import ConfigError
from sonolab.models.group_spreading import (SpreadingSettings, graph_features, require_shared_groups, spread_group, spread_within_groups,
                                            spreading_requested, spreading_settings)


def _clusters(seed: int, n_classes: int = 3, per_class: int = 20, dim: int = 6, offset: float = 0.0):
    """One group's clips: a tight cluster per class, and noisy probabilities that are wrong for 25 % of the clips."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, dim)) * 5
    labels = np.repeat(np.arange(n_classes), per_class)
    features = centres[labels] + 0.3 * rng.standard_normal((len(labels), dim)) + offset
    predicted = labels.copy()
    wrong = rng.choice(len(labels), size=len(labels) // 4, replace=False)
    predicted[wrong] = (labels[wrong] + rng.integers(1, n_classes, size=len(wrong))) % n_classes
    probabilities = np.full((len(labels), n_classes), 0.2 / (n_classes - 1))
    probabilities[np.arange(len(labels)), predicted] = 0.8
    return features, probabilities, labels


def test_spreading_corrects_scattered_mistakes_inside_clusters() -> None:
    features, probabilities, labels = _clusters(0)
    before = np.mean(probabilities.argmax(axis=1) == labels)
    spread = spread_group(probabilities, features, SpreadingSettings(neighbours=5, alpha=0.8))
    after = np.mean(spread.argmax(axis=1) == labels)
    assert before == pytest.approx(0.75, abs=0.02)
    assert after >= 0.9  # at least 60 % of the mistakes corrected
    np.testing.assert_allclose(spread.sum(axis=1), 1.0)
    assert np.all(spread >= 0)


def test_a_group_depends_on_its_own_rows_only_and_rows_keep_their_order() -> None:
    features_a, probabilities_a, _ = _clusters(1)
    features_b, probabilities_b, _ = _clusters(2, offset=40.0)
    settings = SpreadingSettings(neighbours=4, alpha=0.9)
    order = np.random.default_rng(3).permutation(len(features_a) * 2)
    features = np.concatenate([features_a, features_b])[order]
    probabilities = np.concatenate([probabilities_a, probabilities_b])[order]
    groups = np.asarray(["a"] * len(features_a) + ["b"] * len(features_b))[order]
    together = spread_within_groups(probabilities, features, groups, settings)
    alone = spread_group(probabilities_a, features_a, settings)
    rows_a = np.flatnonzero(groups == "a")
    np.testing.assert_allclose(together[rows_a], alone[order[rows_a]], atol=1e-12)
    # group b's features and probabilities changed: group a's output does not move
    changed_b = features.copy()
    changed_b[groups == "b"] *= -3.0
    flipped = probabilities.copy()
    flipped[groups == "b"] = flipped[groups == "b"][:, ::-1]
    again = spread_within_groups(flipped, changed_b, groups, settings)
    np.testing.assert_array_equal(again[rows_a], together[rows_a])
    assert not np.allclose(again[groups == "b"], together[groups == "b"])


def test_the_graph_ignores_a_groups_own_offset_and_scale() -> None:
    features, probabilities, _ = _clusters(4)
    settings = SpreadingSettings()
    np.testing.assert_allclose(spread_group(probabilities, features * 7.0 - 100.0, settings),
                               spread_group(probabilities, features, settings), atol=1e-9)


def test_small_groups_and_settings() -> None:
    one = np.array([[0.3, 0.7]])
    np.testing.assert_array_equal(spread_group(one, np.ones((1, 3)), SpreadingSettings()), one)
    pair = spread_group(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.0], [1.0]]), SpreadingSettings(neighbours=5))
    np.testing.assert_allclose(pair.sum(axis=1), 1.0)
    assert spreading_settings(None) is None
    assert spreading_settings({"enabled": False, "neighbours": 3, "alpha": 0.5}) is None
    assert spreading_settings({"enabled": True, "neighbours": 3, "alpha": 0.5}) == SpreadingSettings(3, 0.5)
    assert spreading_settings({"enabled": True, "graph": "inputs+probabilities"}).graph == "inputs+probabilities"
    with pytest.raises(ConfigError, match="alpha"):
        SpreadingSettings(alpha=1.0)
    with pytest.raises(ConfigError, match="neighbours"):
        SpreadingSettings(neighbours=0)
    with pytest.raises(ValueError, match="disagree"):
        spread_within_groups(np.ones((3, 2)) / 2, np.ones((2, 2)), ["a", "a", "a"], SpreadingSettings())


def test_a_graph_with_the_models_probabilities_keeps_a_minority_class_when_the_inputs_say_nothing() -> None:
    """Inputs that carry no class information give every clip random neighbours, which pull a group's minority class
    over to its majority; with the classifier's log-probabilities in the graph, neighbours are clips the model finds
    alike, and its correct predictions stand."""
    labels = np.repeat([0, 1, 2], [40, 10, 10])
    probabilities = np.full((len(labels), 3), 0.1)
    probabilities[np.arange(len(labels)), labels] = 0.8
    noise = np.random.default_rng(5).standard_normal((len(labels), 2))
    on_inputs = spread_group(probabilities, noise, SpreadingSettings(5, 0.9)).argmax(axis=1)
    with_probabilities = spread_group(probabilities, noise, SpreadingSettings(5, 0.9, "inputs+probabilities")).argmax(axis=1)
    assert np.mean(on_inputs == labels) < 0.8
    np.testing.assert_array_equal(with_probabilities, labels)
    rows = graph_features(probabilities, noise, SpreadingSettings(graph="inputs+probabilities"))
    np.testing.assert_allclose(rows, np.concatenate([noise, np.log(probabilities + 1e-6)], axis=1))
    np.testing.assert_array_equal(graph_features(probabilities, noise, SpreadingSettings()), noise)
    with pytest.raises(ConfigError, match="graph"):
        SpreadingSettings(graph="embedding")


def test_groups_of_one_clip_are_refused_and_sweeps_count_as_requests() -> None:
    with pytest.raises(ConfigError, match="every group of the folder data holds one clip"):
        require_shared_groups(["a.wav", "b.wav", "c.wav"], "folder")
    require_shared_groups(["a", "b", "b"], "fsdd")  # one group of two is enough to spread within
    assert spreading_requested({"group_spreading": {"enabled": True}})
    assert spreading_requested({"group_spreading": {"enabled": False}, "sweep": {"group_spreading.enabled": [False, True]}})
    assert not spreading_requested({"group_spreading": {"enabled": False}, "sweep": {"head.name": ["a", "b"]}})
