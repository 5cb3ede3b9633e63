"""The feature-kind registry: settings class, extraction and decoding rate of each kind.

Every kind module defines `Settings` (a frozen dataclass with `to_dict`, `from_dict`,
`cache_fingerprint`, `save`, `load`), `extract(waveform_mono, sample_rate_hz, settings)` returning
float32 `(n_vectors, dim)`, `decode_sample_rate_hz(settings)`, `require()` (raises a ConfigError
with the install hint when an optional package is missing) and `EXTRACT_IN_WORKERS` (False when
extraction holds a large model better loaded once in the main process).

Modules are imported lazily so that `aisfx` (torch) or `opensmile` load only when used.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import numpy as np

from sonolab.audio.features import FeatureSettings
from sonolab.errors import ConfigError

KINDS: tuple[str, ...] = ("logmel", "aisfx", "functionals", "opensmile", "musicnn")
_MODULES = {
    "logmel": "sonolab.features.logmel",
    "aisfx": "sonolab.features.aisfx",
    "functionals": "sonolab.features.functionals",
    "opensmile": "sonolab.features.opensmile_kind",
    "musicnn": "sonolab.features.musicnn_kind",
}


def kind_module(kind: str) -> ModuleType:
    """The module implementing `kind` (ConfigError for an unknown kind)."""
    if kind not in _MODULES:
        raise ConfigError(f"unknown feature kind {kind!r} (fix: use one of {', '.join(KINDS)})")
    return importlib.import_module(_MODULES[kind])


def settings_class(kind: str) -> type:
    return kind_module(kind).Settings


def settings_from_dict(kind: str, payload: dict[str, Any] | None = None) -> Any:
    """The kind's settings from a recipe's dict (unknown keys refused with a ConfigError naming them)."""
    return settings_class(kind).from_dict(dict(payload or {}))


def kind_of(settings: Any) -> str:
    """The kind a settings object belongs to (`FeatureSettings` is the `logmel` kind)."""
    if isinstance(settings, FeatureSettings):
        return "logmel"
    kind = getattr(settings, "kind", None)
    if kind not in _MODULES:
        raise ConfigError(f"{type(settings).__name__} is not the settings of a feature kind ({', '.join(KINDS)})")
    return str(kind)


def extract(waveform_mono: np.ndarray, sample_rate_hz: int, settings: Any) -> np.ndarray:
    """Features of one mono waveform as float32 `(n_vectors, dim)` (clip-level kinds: n_vectors = 1)."""
    module = kind_module(kind_of(settings))
    module.require()
    waveform = np.asarray(waveform_mono, dtype=np.float32)
    if waveform.ndim != 1:
        raise ValueError(f"extract takes a mono waveform (samples,), got shape {waveform.shape}")
    return module.extract(waveform, int(sample_rate_hz), settings)
