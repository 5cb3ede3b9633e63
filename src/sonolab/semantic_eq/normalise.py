"""Fixed-bound normalisation of the 13 EQ parameters onto [0, 1].

The bounds are the plug-in's limits (`PLUGIN_LIMITS`), never the data's min/max: with data-derived
bounds our users' models could not reach the high-shelf cutoffs "bright" needs (they stayed below 8 kHz).
Frequencies and Q use a log scale, gains a linear one. `from_unit` clips to [0, 1] first, so every
decoded value lies inside the plug-in's limits whatever the model outputs.
"""

from __future__ import annotations

import numpy as np

from sonolab.audio.eq import PLUGIN_LIMITS

_IS_LOG = np.array([limit.scale == "log" for limit in PLUGIN_LIMITS])
_LOW = np.array([limit.minimum for limit in PLUGIN_LIMITS], dtype=np.float64)
_HIGH = np.array([limit.maximum for limit in PLUGIN_LIMITS], dtype=np.float64)
_LOW_T = np.where(_IS_LOG, np.log(np.abs(_LOW)), _LOW)  # abs(): np.where evaluates both branches
_HIGH_T = np.where(_IS_LOG, np.log(np.abs(_HIGH)), _HIGH)
NORMALISATION_VERSION = "plugin-limits-log-freq-q-v1"


def to_unit(vectors: np.ndarray) -> np.ndarray:
    """Plug-in values (..., 13) -> [0, 1] (log for Hz and Q, linear for dB), clipped to the limits first."""
    values = np.clip(np.asarray(vectors, dtype=np.float64), _LOW, _HIGH)
    transformed = np.where(_IS_LOG, np.log(np.where(_IS_LOG, values, 1.0)), values)
    return (transformed - _LOW_T) / (_HIGH_T - _LOW_T)


def from_unit(unit: np.ndarray) -> np.ndarray:
    """[0, 1] (..., 13) -> plug-in values; inputs are clipped to [0, 1], so outputs are always valid."""
    clipped = np.clip(np.asarray(unit, dtype=np.float64), 0.0, 1.0)
    transformed = _LOW_T + clipped * (_HIGH_T - _LOW_T)
    values = np.where(_IS_LOG, np.exp(transformed), transformed)
    return np.clip(values, _LOW, _HIGH)  # exp(log(x)) can overshoot a limit by one ulp
