"""The differentiable torch response equals the scipy-side response the evaluation uses."""

from __future__ import annotations

import numpy as np
import torch

from sonolab.audio.eq import EqSetting, log_frequency_grid_hz, responses_db
from sonolab.semantic_eq.normalise import from_unit, to_unit
from sonolab.semantic_eq.response_torch import parameters_response_db, rms_db, unit_response_db


def test_torch_response_matches_numpy_for_random_valid_settings() -> None:
    unit = np.random.default_rng(0).uniform(size=(100, 13))
    grid = log_frequency_grid_hz(64)
    expected = responses_db(from_unit(unit), grid, 44100)
    got = unit_response_db(torch.tensor(unit, dtype=torch.float64), grid).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-3)


def test_peak_gain_at_centre_flat_identity_and_gradients() -> None:
    grid = np.array([1000.0])
    boost = EqSetting(band2_gain_db=6.0, band2_centre_hz=1000.0, band2_q=1.0).to_vector()
    response = parameters_response_db(torch.tensor(boost[None]), grid)
    assert abs(float(response[0, 0]) - 6.0) < 1e-6
    flat = torch.tensor(EqSetting().to_vector()[None])
    assert float(parameters_response_db(flat, log_frequency_grid_hz(32)).abs().max()) < 1e-9
    unit = torch.tensor(to_unit(boost[None]), requires_grad=True)
    rms_db(unit_response_db(unit), torch.zeros(1, 64)).sum().backward()
    assert torch.isfinite(unit.grad).all() and float(unit.grad.abs().sum()) > 0
