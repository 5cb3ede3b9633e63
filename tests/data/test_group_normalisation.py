"""Group normalisation: each group by its own statistics, no label, no other group's data."""

from __future__ import annotations

import numpy as np
import pytest

from sonolab.data.group_normalisation import check_group_normalisation, per_group_standardise
from sonolab.errors import ConfigError


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(["s03", "s08", "s09"], [5, 7, 4])
    offsets = {"s03": 10.0, "s08": -3.0, "s09": 0.5}
    features = np.stack([rng.normal(offsets[g], 1.0 + i % 3, size=4) for i, g in enumerate(groups)])
    return features, groups


def test_each_group_has_zero_mean_and_unit_std():
    features, groups = _data()
    result = per_group_standardise(features, groups)
    for group in np.unique(groups):
        block = result.features[groups == group].astype(np.float64)
        np.testing.assert_allclose(block.mean(axis=0), 0.0, atol=1e-6)
        np.testing.assert_allclose(block.std(axis=0), 1.0, atol=1e-5)
    assert result.features.dtype == np.float32 and not result.transductive


def test_a_group_output_depends_only_on_its_own_features():
    features, groups = _data()
    before = per_group_standardise(features, groups).features
    changed = features.copy()
    changed[groups != "s08"] = np.random.default_rng(9).normal(size=changed[groups != "s08"].shape) * 100
    after = per_group_standardise(changed, groups).features
    np.testing.assert_array_equal(after[groups == "s08"], before[groups == "s08"])
    assert not np.allclose(after[groups == "s03"], before[groups == "s03"])  # the others did change
    # the function takes no label at all; a group's rows in any order give the same values row by row
    order = np.random.default_rng(1).permutation(len(groups))
    shuffled = per_group_standardise(features[order], groups[order]).features
    np.testing.assert_allclose(shuffled, before[order], atol=1e-6)


def test_test_group_is_flagged_transductive_and_degenerate_groups_stay_finite():
    features, groups = _data()
    features = np.vstack([features, np.full((1, 4), 7.0)])
    groups = np.append(groups, "single")
    result = per_group_standardise(features, groups, test_groups=["s09", "absent"])
    assert result.transductive and result.transductive_groups == ["s09"]
    assert "transductive" in result.note and "s09" in result.note
    np.testing.assert_array_equal(result.features[-1], 0.0)
    assert np.all(np.isfinite(result.features)) and result.group_sizes["s08"] == 7
    with pytest.raises(ConfigError, match="group_normalisation"):
        check_group_normalisation("per_speaker")
