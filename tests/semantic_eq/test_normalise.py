"""Fixed-bound normalisation: the whole plug-in range is reachable and every output is valid."""

from __future__ import annotations

import numpy as np

from sonolab.audio.eq import PLUGIN_LIMITS, EqSetting, limit_violations
from sonolab.semantic_eq.normalise import from_unit, to_unit

LOWS = np.array([limit.minimum for limit in PLUGIN_LIMITS])
HIGHS = np.array([limit.maximum for limit in PLUGIN_LIMITS])


def test_plugin_limits_map_to_0_and_1_and_back() -> None:
    np.testing.assert_allclose(to_unit(LOWS), 0.0, atol=1e-12)
    np.testing.assert_allclose(to_unit(HIGHS), 1.0, atol=1e-12)
    np.testing.assert_allclose(from_unit(np.ones(13)), HIGHS)  # 20 kHz high shelf is reachable
    setting = EqSetting(-6.0, 120.0, 4.0, 300.0, 1.5, -3.0, 1200.0, 0.7, 5.0, 5000.0, 2.0, 6.0, 8000.0)
    np.testing.assert_allclose(from_unit(to_unit(setting.to_vector())), setting.to_vector(), rtol=1e-12)


def test_frequencies_and_q_are_log_scaled_gains_linear() -> None:
    unit = to_unit(EqSetting(low_shelf_gain_db=0.0, band1_q=1.0, high_shelf_cutoff_hz=float(np.sqrt(580.0 * 20000.0))).to_vector())
    assert abs(unit[0] - 0.5) < 1e-12  # 0 dB is the middle of ±12 dB
    assert abs(unit[4] - 0.5) < 1e-12  # Q 1 is the geometric middle of 0.1..10
    assert abs(unit[12] - 0.5) < 1e-12


def test_any_model_output_decodes_inside_the_limits() -> None:
    wild = np.random.default_rng(0).normal(0.5, 3.0, size=(1000, 13))
    wild[0] = np.inf
    wild[1] = -np.inf
    for row in from_unit(wild):
        assert limit_violations(row) == []


def test_bounds_do_not_depend_on_the_data() -> None:
    one = EqSetting(high_shelf_cutoff_hz=6000.0).to_vector()
    batch = np.stack([one, EqSetting(high_shelf_cutoff_hz=600.0).to_vector()])
    np.testing.assert_allclose(to_unit(batch)[0], to_unit(one))
