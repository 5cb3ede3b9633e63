"""The SAFE plug-in's 5-band parametric EQ: low shelf, three peaking bands, high shelf (RBJ biquads).

One design (`design_eq`) gives the second-order sections that are both plotted (`magnitude_response_db`)
and applied (`apply_eq`), so the curve you see is the filter you hear.

The RBJ "Audio EQ Cookbook" coefficient formulas are written by hand because scipy has no shelving
design at all (`scipy.signal.iirpeak` is a constant-skirt band-pass, not a boost/cut peaking EQ).
The SAFE plug-in used JUCE's `IIRCoefficients::makeLowShelf/makePeakFilter/makeHighShelf`, which are
these same RBJ formulas, with the shelves' Q fixed at 0.71.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Literal

import numpy as np
from scipy import signal

from sonolab.audio.threads import filter_channels

SHELF_Q = 0.71
"""The SAFE plug-in's fixed shelf Q (it has no Q control for the shelves)."""

NYQUIST_CLAMP_FRACTION = 0.49
"""Cutoffs/centres above this fraction of the sample rate (0.98 x Nyquist) are clamped to it.

An RBJ biquad cannot place a corner at or above Nyquist (sin(w0) -> 0 and the section degenerates);
at 16 kHz a 10 kHz high-shelf cutoff is moved to 7,840 Hz and `EqDesign.notes` says so. At 44.1 kHz
and above every plug-in value (<= 20 kHz) lies below the limit, so nothing is clamped there.
"""


@dataclass(frozen=True)
class ParameterLimit:
    """The plug-in's range of one parameter and the scale it is normalised on."""

    name: str
    minimum: float
    maximum: float
    scale: Literal["linear", "log"]
    unit: str


@dataclass(frozen=True)
class EqSetting:
    """The 13 parameters of the SAFE equaliser, in the plug-in's (and the CSV's) order."""

    low_shelf_gain_db: float = 0.0
    low_shelf_cutoff_hz: float = 100.0
    band1_gain_db: float = 0.0
    band1_centre_hz: float = 300.0
    band1_q: float = 0.71
    band2_gain_db: float = 0.0
    band2_centre_hz: float = 1000.0
    band2_q: float = 0.71
    band3_gain_db: float = 0.0
    band3_centre_hz: float = 3000.0
    band3_q: float = 0.71
    high_shelf_gain_db: float = 0.0
    high_shelf_cutoff_hz: float = 5000.0

    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in fields(cls))

    def to_vector(self) -> np.ndarray:
        """The 13 values as float64, in `parameter_names()` order."""
        return np.array([getattr(self, name) for name in self.parameter_names()], dtype=np.float64)

    @classmethod
    def from_vector(cls, vector: np.ndarray | list[float]) -> EqSetting:
        values = np.asarray(vector, dtype=np.float64).reshape(-1)
        if values.shape[0] != len(PLUGIN_LIMITS):
            raise ValueError(f"an EQ setting has {len(PLUGIN_LIMITS)} parameters, got {values.shape[0]}")
        return cls(*(float(value) for value in values))

    def to_dict(self) -> dict[str, float]:
        return {name: float(value) for name, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, payload: dict[str, float]) -> EqSetting:
        return cls(**{name: float(payload[name]) for name in cls.parameter_names()})

    def gains_db(self) -> np.ndarray:
        return self.to_vector()[list(GAIN_INDICES)]

    def scaled(self, strength: float) -> EqSetting:
        """All five gains multiplied by `strength` (0 = flat), clipped to the plug-in's ±12 dB."""
        vector = self.to_vector()
        for index in GAIN_INDICES:
            vector[index] = float(np.clip(vector[index] * strength, PLUGIN_LIMITS[index].minimum, PLUGIN_LIMITS[index].maximum))
        return EqSetting.from_vector(vector)

    def within_limits(self, tolerance: float = 1e-6) -> bool:
        return not limit_violations(self.to_vector(), tolerance)

    def describe(self) -> list[tuple[str, float, str]]:
        """(parameter, value, unit) rows for printing."""
        return [(limit.name, float(value), limit.unit) for limit, value in zip(PLUGIN_LIMITS, self.to_vector())]


_GAIN = (-12.0, 12.0)
_Q = (0.1, 10.0)
PLUGIN_LIMITS: tuple[ParameterLimit, ...] = (
    ParameterLimit("low_shelf_gain_db", *_GAIN, "linear", "dB"),
    ParameterLimit("low_shelf_cutoff_hz", 22.0, 1000.0, "log", "Hz"),
    ParameterLimit("band1_gain_db", *_GAIN, "linear", "dB"),
    ParameterLimit("band1_centre_hz", 82.0, 3900.0, "log", "Hz"),
    ParameterLimit("band1_q", *_Q, "log", ""),
    ParameterLimit("band2_gain_db", *_GAIN, "linear", "dB"),
    ParameterLimit("band2_centre_hz", 180.0, 4700.0, "log", "Hz"),
    ParameterLimit("band2_q", *_Q, "log", ""),
    ParameterLimit("band3_gain_db", *_GAIN, "linear", "dB"),
    ParameterLimit("band3_centre_hz", 220.0, 10000.0, "log", "Hz"),
    ParameterLimit("band3_q", *_Q, "log", ""),
    ParameterLimit("high_shelf_gain_db", *_GAIN, "linear", "dB"),
    ParameterLimit("high_shelf_cutoff_hz", 580.0, 20000.0, "log", "Hz"),
)
"""The SAFE plug-in's limits, one per parameter, in `EqSetting` order."""

assert tuple(limit.name for limit in PLUGIN_LIMITS) == EqSetting.parameter_names()
GAIN_INDICES: tuple[int, ...] = tuple(i for i, limit in enumerate(PLUGIN_LIMITS) if limit.unit == "dB")
HIGH_SHELF_CUTOFF_INDEX = EqSetting.parameter_names().index("high_shelf_cutoff_hz")


def limit_violations(vector: np.ndarray, tolerance: float = 1e-6) -> list[str]:
    """Human-readable reasons why a 13-value vector is outside the plug-in's limits (empty when valid)."""
    reasons = []
    for limit, value in zip(PLUGIN_LIMITS, np.asarray(vector, dtype=np.float64)):
        if not math.isfinite(value):
            reasons.append(f"{limit.name} is not finite ({value})")
        elif value < limit.minimum - tolerance * max(1.0, abs(limit.minimum)) or value > limit.maximum + tolerance * max(1.0, abs(limit.maximum)):
            reasons.append(f"{limit.name}={value:g} outside the plug-in range {limit.minimum:g}..{limit.maximum:g} {limit.unit}".rstrip())
    return reasons


def _rbj_common(frequency_hz: float, sample_rate_hz: float, q: float) -> tuple[float, float]:
    omega = 2.0 * math.pi * frequency_hz / sample_rate_hz
    return math.cos(omega), math.sin(omega) / (2.0 * q)


def low_shelf_sos(gain_db: float, cutoff_hz: float, sample_rate_hz: float, q: float = SHELF_Q) -> np.ndarray:
    """RBJ cookbook low shelf as one normalised second-order section `[b0, b1, b2, 1, a1, a2]`."""
    amplitude = 10.0 ** (gain_db / 40.0)
    cos_w, alpha = _rbj_common(cutoff_hz, sample_rate_hz, q)
    root = 2.0 * math.sqrt(amplitude) * alpha
    b = [
        amplitude * ((amplitude + 1) - (amplitude - 1) * cos_w + root),
        2 * amplitude * ((amplitude - 1) - (amplitude + 1) * cos_w),
        amplitude * ((amplitude + 1) - (amplitude - 1) * cos_w - root),
    ]
    a = [(amplitude + 1) + (amplitude - 1) * cos_w + root, -2 * ((amplitude - 1) + (amplitude + 1) * cos_w), (amplitude + 1) + (amplitude - 1) * cos_w - root]
    return _normalised_section(b, a)


def high_shelf_sos(gain_db: float, cutoff_hz: float, sample_rate_hz: float, q: float = SHELF_Q) -> np.ndarray:
    """RBJ cookbook high shelf as one normalised second-order section."""
    amplitude = 10.0 ** (gain_db / 40.0)
    cos_w, alpha = _rbj_common(cutoff_hz, sample_rate_hz, q)
    root = 2.0 * math.sqrt(amplitude) * alpha
    b = [
        amplitude * ((amplitude + 1) + (amplitude - 1) * cos_w + root),
        -2 * amplitude * ((amplitude - 1) + (amplitude + 1) * cos_w),
        amplitude * ((amplitude + 1) + (amplitude - 1) * cos_w - root),
    ]
    a = [(amplitude + 1) - (amplitude - 1) * cos_w + root, 2 * ((amplitude - 1) - (amplitude + 1) * cos_w), (amplitude + 1) - (amplitude - 1) * cos_w - root]
    return _normalised_section(b, a)


def peaking_sos(gain_db: float, centre_hz: float, q: float, sample_rate_hz: float) -> np.ndarray:
    """RBJ cookbook peaking (bell) EQ as one normalised second-order section; +g dB exactly at the centre."""
    amplitude = 10.0 ** (gain_db / 40.0)
    cos_w, alpha = _rbj_common(centre_hz, sample_rate_hz, q)
    b = [1 + alpha * amplitude, -2 * cos_w, 1 - alpha * amplitude]
    a = [1 + alpha / amplitude, -2 * cos_w, 1 - alpha / amplitude]
    return _normalised_section(b, a)


def _normalised_section(b: list[float], a: list[float]) -> np.ndarray:
    return np.array([b[0] / a[0], b[1] / a[0], b[2] / a[0], 1.0, a[1] / a[0], a[2] / a[0]], dtype=np.float64)


@dataclass(frozen=True)
class EqDesign:
    """The filter actually used: sections (5, 6), the sample rate, and notes on any clamping."""

    sos: np.ndarray
    sample_rate_hz: int
    setting: EqSetting  # after strength and clamping: what the sections implement
    notes: tuple[str, ...] = ()


def design_eq(setting: EqSetting, sample_rate_hz: int, strength: float = 1.0) -> EqDesign:
    """Second-order sections of `setting` at `sample_rate_hz`, gains scaled by `strength`.

    Frequencies above `NYQUIST_CLAMP_FRACTION * sample_rate_hz` are clamped there (listed in `notes`).
    """
    if sample_rate_hz <= 0:
        raise ValueError(f"sample rate must be positive, got {sample_rate_hz}")
    effective = setting.scaled(strength)
    ceiling_hz = NYQUIST_CLAMP_FRACTION * sample_rate_hz
    notes: list[str] = []
    updates: dict[str, float] = {}
    for name in ("low_shelf_cutoff_hz", "band1_centre_hz", "band2_centre_hz", "band3_centre_hz", "high_shelf_cutoff_hz"):
        value = getattr(effective, name)
        if value > ceiling_hz:
            updates[name] = ceiling_hz
            notes.append(f"{name} {value:.0f} Hz is above 0.98 x Nyquist at {sample_rate_hz} Hz; clamped to {ceiling_hz:.0f} Hz")
    effective = replace(effective, **updates)
    sos = np.stack(
        [
            low_shelf_sos(effective.low_shelf_gain_db, effective.low_shelf_cutoff_hz, sample_rate_hz),
            peaking_sos(effective.band1_gain_db, effective.band1_centre_hz, effective.band1_q, sample_rate_hz),
            peaking_sos(effective.band2_gain_db, effective.band2_centre_hz, effective.band2_q, sample_rate_hz),
            peaking_sos(effective.band3_gain_db, effective.band3_centre_hz, effective.band3_q, sample_rate_hz),
            high_shelf_sos(effective.high_shelf_gain_db, effective.high_shelf_cutoff_hz, sample_rate_hz),
        ]
    )
    return EqDesign(sos=sos, sample_rate_hz=int(sample_rate_hz), setting=effective, notes=tuple(notes))


def active_sections(design: EqDesign) -> np.ndarray:
    """The sections whose gain is non-zero (a 0 dB RBJ section is exactly b == a, the identity)."""
    return design.sos[np.abs(design.setting.gains_db()) > 0.0]


def log_frequency_grid_hz(count: int = 256, minimum_hz: float = 20.0, maximum_hz: float = 20000.0) -> np.ndarray:
    """`count` log-spaced frequencies (the evaluation grid is 20 Hz-20 kHz)."""
    return np.geomspace(minimum_hz, maximum_hz, count)


def design_response_db(design: EqDesign, frequencies_hz: np.ndarray) -> np.ndarray:
    """Magnitude response in dB of a design at `frequencies_hz` (must be below Nyquist)."""
    frequencies_hz = np.asarray(frequencies_hz, dtype=np.float64)
    if np.any(frequencies_hz >= design.sample_rate_hz / 2) or np.any(frequencies_hz < 0):
        raise ValueError(f"frequencies must lie in [0, {design.sample_rate_hz / 2:g}) Hz at {design.sample_rate_hz} Hz")
    _, response = signal.freqz_sos(design.sos, worN=frequencies_hz, fs=design.sample_rate_hz)
    return 20.0 * np.log10(np.maximum(np.abs(response), 1e-12))


def magnitude_response_db(
    setting: EqSetting, frequencies_hz: np.ndarray, sample_rate_hz: int = 44100, strength: float = 1.0
) -> np.ndarray:
    """Magnitude response (dB) of the filter `apply_eq` would run, on any frequency grid below Nyquist."""
    return design_response_db(design_eq(setting, sample_rate_hz, strength), frequencies_hz)


def responses_db(settings: list[EqSetting] | np.ndarray, frequencies_hz: np.ndarray, sample_rate_hz: int = 44100) -> np.ndarray:
    """Stacked responses (n_settings, n_frequencies) in dB of many settings (or an (n, 13) array).

    Evaluates the very sections `design_eq` returns, vectorised over settings: `freqz_sos` handles one
    filter per call and its per-call overhead made evaluating thousands of settings take seconds. The
    test suite checks this against `magnitude_response_db` (freqz_sos).
    """
    if isinstance(settings, np.ndarray):
        settings = [EqSetting.from_vector(row) for row in settings]
    frequencies_hz = np.asarray(frequencies_hz, dtype=np.float64)
    if not settings:
        return np.zeros((0, len(frequencies_hz)))
    if np.any(frequencies_hz >= sample_rate_hz / 2) or np.any(frequencies_hz < 0):
        raise ValueError(f"frequencies must lie in [0, {sample_rate_hz / 2:g}) Hz at {sample_rate_hz} Hz")
    sos = np.stack([design_eq(setting, sample_rate_hz).sos for setting in settings])  # (n, 5, 6)
    z_inverse = np.exp(-2j * np.pi * frequencies_hz / sample_rate_hz)  # (f,)
    powers = np.stack([np.ones_like(z_inverse), z_inverse, z_inverse**2])  # (3, f)
    numerator = np.einsum("nsk,kf->nsf", sos[:, :, :3], powers)
    denominator = np.einsum("nsk,kf->nsf", sos[:, :, 3:], powers)
    magnitude = np.prod(np.abs(numerator) / np.abs(denominator), axis=1)
    return 20.0 * np.log10(np.maximum(magnitude, 1e-12))


def apply_design(audio: np.ndarray, design: EqDesign) -> np.ndarray:
    """Filter `(channels, samples)` (or `(samples,)`) audio with a design; returns float32, same shape."""
    audio = np.asarray(audio)
    sections = active_sections(design)
    if sections.shape[0] == 0:
        return audio.astype(np.float32, copy=True)
    # float64 state: float32 biquads with low cutoffs at 48 kHz lose ~0.1 dB of accuracy
    return filter_channels(sections, audio.astype(np.float64, copy=False)).astype(np.float32)


def apply_eq(audio: np.ndarray, sample_rate_hz: int, setting: EqSetting, strength: float = 1.0) -> np.ndarray:
    """Apply `setting` (gains x `strength`) to float32 `(channels, samples)` audio at any sample rate."""
    return apply_design(audio, design_eq(setting, sample_rate_hz, strength))


class EqFilter:
    """A design run block by block: `scipy.signal.sosfilt` with its state (`zi`) carried across blocks,
    so the concatenated outputs equal one `apply_design` call on the whole signal (bit for bit, float64)."""

    def __init__(self, design: EqDesign, channels: int) -> None:
        self.sections = active_sections(design)
        self._state = np.zeros((self.sections.shape[0], channels, 2))

    def process(self, block: np.ndarray) -> np.ndarray:
        """Filter `(channels, samples)`; returns float64."""
        block = np.asarray(block)
        if self.sections.shape[0] == 0 or block.shape[-1] == 0:
            return block.astype(np.float64, copy=True)
        if block.dtype not in (np.float32, np.float64):
            block = block.astype(np.float64)
        # float32 input is widened by sosfilt itself, channel by channel (on the channels' threads)
        output, self._state = filter_channels(self.sections, block, self._state)
        return output
