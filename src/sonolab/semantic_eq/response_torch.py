"""Differentiable magnitude response (dB) of the SAFE 5-band EQ, in torch, from normalised settings.

The model is trained and its term settings are chosen in the *response* domain: the 13 parameters are
not identifiable (a 0 dB band's frequency and Q change nothing; a wide low bell and a low shelf draw
nearly the same curve), so an error in parameter space is a poor stand-in for what the evaluation (and
the ear) measures. These are the same RBJ cookbook formulas as `sonolab.audio.eq` (with the shelf Q
fixed at 0.71), rewritten in torch because that module is numpy/scipy and not differentiable; a test
checks the two agree within 1e-3 dB.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from sonolab.audio.eq import SHELF_Q, log_frequency_grid_hz
from sonolab.semantic_eq.normalise import _HIGH_T, _IS_LOG, _LOW_T

RESPONSE_SAMPLE_RATE_HZ = 44100
RESPONSE_GRID_POINTS = 64


def unit_to_parameters(unit: torch.Tensor) -> torch.Tensor:
    """[0, 1] (..., 13) -> plug-in values (the torch twin of `normalise.from_unit`, without clipping)."""
    low = torch.as_tensor(_LOW_T, dtype=unit.dtype)
    high = torch.as_tensor(_HIGH_T, dtype=unit.dtype)
    transformed = low + unit * (high - low)
    return torch.where(torch.as_tensor(_IS_LOG), torch.exp(transformed), transformed)


def _section_power(b: list[torch.Tensor], a: list[torch.Tensor], cos_1: torch.Tensor, sin_1: torch.Tensor, cos_2: torch.Tensor, sin_2: torch.Tensor) -> torch.Tensor:
    """|B(e^jw)|^2 / |A(e^jw)|^2 for coefficient tensors of shape (..., 1) and a grid of shape (f,)."""
    numerator = (b[0] + b[1] * cos_1 + b[2] * cos_2) ** 2 + (b[1] * sin_1 + b[2] * sin_2) ** 2
    denominator = (a[0] + a[1] * cos_1 + a[2] * cos_2) ** 2 + (a[1] * sin_1 + a[2] * sin_2) ** 2
    return numerator / denominator


def _omega_alpha(frequency_hz: torch.Tensor, q: torch.Tensor | float, sample_rate_hz: float) -> tuple[torch.Tensor, torch.Tensor]:
    omega = 2.0 * math.pi * frequency_hz / sample_rate_hz
    return torch.cos(omega), torch.sin(omega) / (2.0 * q)


def _shelf(gain_db: torch.Tensor, cutoff_hz: torch.Tensor, sample_rate_hz: float, high: bool) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    amplitude = 10.0 ** (gain_db / 40.0)
    cos_w, alpha = _omega_alpha(cutoff_hz, SHELF_Q, sample_rate_hz)
    root = 2.0 * torch.sqrt(amplitude) * alpha
    sign = -1.0 if high else 1.0  # the high shelf is the low shelf with cos_w -> -cos_w and b1, a1 negated
    b = [
        amplitude * ((amplitude + 1) - sign * (amplitude - 1) * cos_w + root),
        sign * 2 * amplitude * ((amplitude - 1) - sign * (amplitude + 1) * cos_w),
        amplitude * ((amplitude + 1) - sign * (amplitude - 1) * cos_w - root),
    ]
    a = [
        (amplitude + 1) + sign * (amplitude - 1) * cos_w + root,
        -sign * 2 * ((amplitude - 1) + sign * (amplitude + 1) * cos_w),
        (amplitude + 1) + sign * (amplitude - 1) * cos_w - root,
    ]
    return b, a


def _peak(gain_db: torch.Tensor, centre_hz: torch.Tensor, q: torch.Tensor, sample_rate_hz: float) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    amplitude = 10.0 ** (gain_db / 40.0)
    cos_w, alpha = _omega_alpha(centre_hz, q, sample_rate_hz)
    b = [1 + alpha * amplitude, -2 * cos_w, 1 - alpha * amplitude]
    a = [1 + alpha / amplitude, -2 * cos_w, 1 - alpha / amplitude]
    return b, a


def parameters_response_db(
    parameters: torch.Tensor, frequencies_hz: np.ndarray | torch.Tensor, sample_rate_hz: float = RESPONSE_SAMPLE_RATE_HZ
) -> torch.Tensor:
    """Plug-in values (n, 13) -> magnitude response (n, f) in dB on `frequencies_hz` (below Nyquist)."""
    grid = torch.as_tensor(np.asarray(frequencies_hz, dtype=np.float64), dtype=parameters.dtype)
    omega = 2.0 * math.pi * grid / sample_rate_hz
    cos_1, sin_1, cos_2, sin_2 = torch.cos(omega), torch.sin(omega), torch.cos(2 * omega), torch.sin(2 * omega)
    column = [parameters[:, index : index + 1] for index in range(parameters.shape[1])]
    sections = [
        _shelf(column[0], column[1], sample_rate_hz, high=False),
        _peak(column[2], column[3], column[4], sample_rate_hz),
        _peak(column[5], column[6], column[7], sample_rate_hz),
        _peak(column[8], column[9], column[10], sample_rate_hz),
        _shelf(column[11], column[12], sample_rate_hz, high=True),
    ]
    power = torch.ones(parameters.shape[0], grid.shape[0], dtype=parameters.dtype)
    for b, a in sections:
        power = power * _section_power(b, a, cos_1, sin_1, cos_2, sin_2)
    return 10.0 * torch.log10(power.clamp_min(1e-24))


def unit_response_db(unit: torch.Tensor, frequencies_hz: np.ndarray | None = None) -> torch.Tensor:
    """Normalised settings (n, 13) -> response (n, f) in dB (default grid: 64 log-spaced 20 Hz-20 kHz)."""
    grid = log_frequency_grid_hz(RESPONSE_GRID_POINTS) if frequencies_hz is None else frequencies_hz
    return parameters_response_db(unit_to_parameters(unit), grid)


def rms_db(curves_a: torch.Tensor, curves_b: torch.Tensor, epsilon: float = 1e-6) -> torch.Tensor:
    """Row-wise RMS difference over the grid (dB); epsilon keeps the gradient finite at zero."""
    return torch.sqrt(((curves_a - curves_b) ** 2).mean(dim=-1) + epsilon)
