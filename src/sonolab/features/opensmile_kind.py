"""The `opensmile` kind: openSMILE functionals (eGeMAPSv02: 88, ComParE_2016: 6,373 per clip).

openSMILE is distributed by audEERING under a research licence that forbids commercial use without
their licence: it is an optional extra (`pip install 'sonolab[opensmile]'`), and a report that used
it must say so (`LICENCE_NOTE`).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from sonolab.errors import ConfigError
from sonolab.features.settings import KindSettings

EXTRACT_IN_WORKERS = True
MIN_FILES_PER_WORKER = 4  # openSMILE costs ~10-100 ms per clip: workers pay off from a handful of files
FEATURE_SETS = ("eGeMAPSv02", "ComParE_2016")
INSTALL_HINT = "pip install 'sonolab[opensmile]'"
LICENCE_NOTE = "openSMILE (audEERING research licence: no commercial use without a licence from audEERING)"


@dataclass(frozen=True)
class Settings(KindSettings):
    kind = "opensmile"
    algorithm_version = 1

    feature_set: str = "ComParE_2016"
    sample_rate_hz: int = 16000  # audio is resampled to this rate before openSMILE sees it

    def __post_init__(self) -> None:
        if self.feature_set not in FEATURE_SETS:
            raise ConfigError(f"opensmile feature_set must be one of {', '.join(FEATURE_SETS)}, got {self.feature_set!r}")
        if self.sample_rate_hz < 8000:
            raise ConfigError(f"opensmile sample_rate_hz must be at least 8000, got {self.sample_rate_hz}")


def require() -> None:
    """ConfigError with the install hint when the optional `opensmile` package is missing."""
    try:
        import opensmile  # noqa: F401
    except ImportError:
        raise ConfigError(
            f"the opensmile feature kind needs the optional package opensmile, under audEERING's research licence "
            f"(no commercial use) (fix: {INSTALL_HINT})"
        ) from None


def warm_up(settings: Settings) -> None:
    """Load openSMILE's configuration once before workers fork."""
    _smile(settings.feature_set)


def decode_sample_rate_hz(settings: Settings) -> int:
    return int(settings.sample_rate_hz)


@functools.lru_cache(maxsize=4)
def _smile(feature_set: str) -> Any:
    require()
    import opensmile

    return opensmile.Smile(
        feature_set=getattr(opensmile.FeatureSet, feature_set), feature_level=opensmile.FeatureLevel.Functionals
    )


def feature_names(settings: Settings) -> list[str]:
    return list(_smile(settings.feature_set).feature_names)


def extract(waveform_mono: np.ndarray, sample_rate_hz: int, settings: Settings) -> np.ndarray:
    """`(1, dim)` float32 openSMILE functionals of one mono clip."""
    samples = np.asarray(waveform_mono, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Segment too short, filling with NaN": reported below
        values = np.asarray(_smile(settings.feature_set).process_signal(samples, int(sample_rate_hz)), dtype=np.float32).reshape(1, -1)
    if not np.all(np.isfinite(values)):
        # The cache lists the clip as a failure with this reason; it never stores NaN.
        raise ValueError(
            f"openSMILE {settings.feature_set} returned non-finite values for a clip of "
            f"{samples.size / sample_rate_hz:.3f} s (too short for its analysis windows)"
        )
    return values
