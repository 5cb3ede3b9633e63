"""Log-mel features from one settings dataclass that is saved with whatever it produces.

The pipeline is split in two so that caches stay valid across dB references:
1. `log_mel_re_unity`: mel power -> dB relative to 1.0 (no floor). This is what caches store.
2. `apply_reference_and_floor`: subtract the chosen reference in dB and clip at the floor.

dB reference modes (`FeatureSettings.db_reference`):
- `per_clip_max`: each clip relative to its own maximum (librosa's `ref=np.max`). It erases loudness
  differences between clips; kept only to compare against.
- `fixed`: a constant reference power (`fixed_reference`, default 1.0).
- `dataset_max`: one global maximum computed over the training partition only, then frozen into the
  settings (`dataset_max_reference`) and saved with the model.

The floor is `-top_db` dB relative to the reference, applied element-wise per item (never per
batch), so padding with `floor_db` is exactly the value silence takes.

Compression (`FeatureSettings.compression`):
- `db` (default): the dB pipeline above.
- `aisfx_log1p`: the pretrained aisfx network's input, `log10(1 + 10^4 * power)` min-max scaled with the
  aisfx paper's constants (0, 9.4578): the cache stores the final values, no reference or floor applies,
  and silence (and padding, `floor_db`) is 0. With `AISFX_FEATURE_SETTINGS` (44.1 kHz, n_fft 2048, hop
  1024, 96 HTK unit-sum mel bands, peak-normalised audio) a cached matrix equals
  `sonolab.audio.aisfx_input.aisfx_input` of the same audio.
Mel filters (`mel_scale`: `slaney` | `htk`; `mel_norm`: `slaney` area normalisation | `unit_sum`, librosa's
`norm=1.0`) and `peak_normalise` (each clip divided by its maximum absolute sample, after resampling and
down-mixing) are options for any compression. Their defaults leave `cache_fingerprint()` unchanged.
"""

from __future__ import annotations

import functools
import hashlib
import json
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

import librosa
import numpy as np

from sonolab.atomic import write_json_atomic
from sonolab.audio import aisfx_input as aisfx
from sonolab.errors import ConfigError

DbReference = Literal["per_clip_max", "fixed", "dataset_max"]
DB_REFERENCES: tuple[str, ...] = ("per_clip_max", "fixed", "dataset_max")
AMIN_POWER = 1e-10  # smallest power before the log (librosa's default amin)

COMPRESSIONS: tuple[str, ...] = ("db", "aisfx_log1p")
MEL_SCALES: tuple[str, ...] = ("slaney", "htk")
MEL_NORMS: tuple[str, ...] = ("slaney", "unit_sum")

# Fields that change the cached dB-re-unity matrices; the reference and floor are applied on read.
_CACHE_FIELDS = (
    "sample_rate_hz", "n_fft", "hop_length_samples", "win_length_samples", "n_mels",
    "min_frequency_hz", "max_frequency_hz", "power", "mono",
)
# Later fields that change cached matrices: in the fingerprint only when they differ from their default,
# so every cache made before they existed keeps its fingerprint.
_CACHE_FIELDS_IF_CHANGED = {"compression": "db", "mel_scale": "slaney", "mel_norm": "slaney", "peak_normalise": False}


@dataclass(frozen=True)
class FeatureSettings:
    """Every setting that determines a log-mel matrix. Saved with every cache and checkpoint."""

    sample_rate_hz: int = 16000
    n_fft: int = 1024
    hop_length_samples: int = 256
    win_length_samples: int | None = None  # None: equal to n_fft
    n_mels: int = 64
    min_frequency_hz: float = 0.0
    max_frequency_hz: float | None = None  # None: Nyquist
    power: float = 2.0  # 2: power spectrogram, 1: magnitude
    db_reference: str = "fixed"
    fixed_reference: float = 1.0  # reference power for `fixed`
    dataset_max_reference: float | None = None  # frozen global maximum for `dataset_max`
    top_db: float = 80.0  # floor = -top_db dB relative to the reference
    mono: bool = True  # down-mix to mono before the STFT
    compression: str = "db"  # db | aisfx_log1p (the aisfx network's input scale)
    mel_scale: str = "slaney"  # slaney | htk
    mel_norm: str = "slaney"  # slaney (librosa's default) | unit_sum (each filter sums to 1, librosa norm=1.0)
    peak_normalise: bool = False  # divide each clip by its maximum absolute sample before the STFT

    def __post_init__(self) -> None:
        if self.db_reference not in DB_REFERENCES:
            raise ConfigError(f"db_reference must be one of {', '.join(DB_REFERENCES)}, got {self.db_reference!r}")
        for name, allowed in (("compression", COMPRESSIONS), ("mel_scale", MEL_SCALES), ("mel_norm", MEL_NORMS)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"feature setting {name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.compression == "aisfx_log1p" and (self.db_reference != "fixed" or self.power != 2.0):
            raise ConfigError(
                "compression aisfx_log1p takes mel power (power: 2.0) and no dB reference "
                f"(got power {self.power}, db_reference {self.db_reference!r}; fix: power: 2.0, db_reference: fixed)"
            )
        for name in ("sample_rate_hz", "n_fft", "hop_length_samples", "n_mels"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"feature setting {name} must be positive, got {getattr(self, name)} (fix: give a value > 0)")
        nyquist_hz = self.sample_rate_hz / 2
        if not 0 <= self.min_frequency_hz < nyquist_hz:
            raise ConfigError(
                f"min_frequency_hz must lie in [0, {nyquist_hz:g}) for sample_rate_hz={self.sample_rate_hz}, "
                f"got {self.min_frequency_hz} (fix: lower it below the Nyquist frequency)"
            )
        if self.max_frequency_hz is not None and not (self.min_frequency_hz < self.max_frequency_hz <= nyquist_hz):
            raise ConfigError(
                f"max_frequency_hz must lie in (min_frequency_hz, {nyquist_hz:g}] for sample_rate_hz="
                f"{self.sample_rate_hz}, got {self.max_frequency_hz}"
            )
        if self.top_db <= 0:
            raise ConfigError(f"top_db must be positive, got {self.top_db}")
        if self.fixed_reference <= 0:
            raise ConfigError(f"fixed_reference must be positive, got {self.fixed_reference}")
        empty_bands = _empty_mel_bands(
            self.sample_rate_hz, self.n_fft, self.n_mels, self.min_frequency_hz, self.max_frequency_hz, self.mel_scale, self.mel_norm
        )
        if empty_bands:
            raise ConfigError(
                f"{empty_bands} of {self.n_mels} mel bands receive no FFT bin with n_fft={self.n_fft} at "
                f"{self.sample_rate_hz} Hz between {self.min_frequency_hz:g} and {self.max_frequency_hz or nyquist_hz:g} Hz "
                "(fix: raise n_fft or lower n_mels)"
            )

    @property
    def floor_db(self) -> float:
        """The value of silence and of padding on this scale: -top_db dB, or 0 for aisfx_log1p."""
        if self.compression == "aisfx_log1p":
            return 0.0
        return -float(self.top_db)

    @property
    def db_per_decade(self) -> float:
        """10 dB per decade of power, 20 dB per decade of magnitude."""
        return 20.0 / float(self.power)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> "FeatureSettings":
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise ConfigError(f"unknown feature settings: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
        return cls(**payload)

    def with_updates(self, **changes: Any) -> "FeatureSettings":
        return replace(self, **changes)

    def cache_fingerprint(self) -> str:
        """A hash of the settings that change cached matrices (not the reference or floor)."""
        payload = {name: getattr(self, name) for name in _CACHE_FIELDS}
        payload.update({name: getattr(self, name) for name, default in _CACHE_FIELDS_IF_CHANGED.items() if getattr(self, name) != default})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def save(self, path: str | Path) -> Path:
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "FeatureSettings":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _librosa_mel_options(mel_scale: str, mel_norm: str) -> dict[str, Any]:
    return {"htk": mel_scale == "htk", "norm": 1.0 if mel_norm == "unit_sum" else "slaney"}


def mel_filter_weights(settings: FeatureSettings) -> np.ndarray:
    """The mel filter bank `(n_mels, 1 + n_fft // 2)` float32 these settings use (librosa.filters.mel)."""
    return librosa.filters.mel(
        sr=settings.sample_rate_hz, n_fft=settings.n_fft, n_mels=settings.n_mels, fmin=settings.min_frequency_hz,
        fmax=settings.max_frequency_hz, **_librosa_mel_options(settings.mel_scale, settings.mel_norm),
    )


@functools.lru_cache(maxsize=64)
def _empty_mel_bands(
    sample_rate_hz: int, n_fft: int, n_mels: int, min_frequency_hz: float, max_frequency_hz: float | None,
    mel_scale: str = "slaney", mel_norm: str = "slaney",
) -> int:
    """How many mel filters get no weight at all from the FFT bins (librosa warns; we refuse)."""
    with warnings.catch_warnings():  # librosa warns about the very condition we turn into an error
        warnings.simplefilter("ignore", UserWarning)
        weights = librosa.filters.mel(
            sr=sample_rate_hz, n_fft=n_fft, n_mels=n_mels, fmin=min_frequency_hz, fmax=max_frequency_hz,
            **_librosa_mel_options(mel_scale, mel_norm),
        )
    return int(np.count_nonzero(weights.max(axis=1) <= 0))


AISFX_FEATURE_SETTINGS = FeatureSettings(
    sample_rate_hz=aisfx.SAMPLE_RATE_HZ,
    n_fft=aisfx.N_FFT,
    hop_length_samples=aisfx.HOP_LENGTH_SAMPLES,
    n_mels=aisfx.N_MELS,
    min_frequency_hz=aisfx.MIN_FREQUENCY_HZ,
    max_frequency_hz=aisfx.MAX_FREQUENCY_HZ,
    power=2.0,
    compression="aisfx_log1p",
    mel_scale="htk",
    mel_norm="unit_sum",
    peak_normalise=True,
)
"""The settings whose log-mels are the aisfx network's input (`sonolab.audio.aisfx_input.aisfx_input`)."""


def frames_for_samples(num_samples: int, settings: FeatureSettings) -> int:
    """Number of STFT frames (centred) for `num_samples` samples."""
    return 1 + num_samples // settings.hop_length_samples


def mel_power(audio: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """Mel spectrogram `(n_mels, frames)` (or `(channels, n_mels, frames)` when not mono) of audio
    at `settings.sample_rate_hz`, librosa conventions (centred frames, Hann window, Slaney mel)."""
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim == 2 and settings.mono:
        samples = samples.mean(axis=0)
    if settings.peak_normalise:
        samples = aisfx.peak_normalise(samples)
    return librosa.feature.melspectrogram(
        y=samples,
        sr=settings.sample_rate_hz,
        n_fft=settings.n_fft,
        hop_length=settings.hop_length_samples,
        win_length=settings.win_length_samples,
        n_mels=settings.n_mels,
        fmin=settings.min_frequency_hz,
        fmax=settings.max_frequency_hz,
        power=settings.power,
        center=True,
        pad_mode="constant",
        **_librosa_mel_options(settings.mel_scale, settings.mel_norm),
    ).astype(np.float32)


def power_to_db_re_unity(power_spectrogram: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """dB relative to 1.0, without a floor: the form caches store (aisfx_log1p: the aisfx input scale)."""
    if settings.compression == "aisfx_log1p":
        return aisfx.compress_and_normalise(power_spectrogram)
    clipped = np.maximum(power_spectrogram, AMIN_POWER ** (settings.power / 2.0))
    return (settings.db_per_decade * np.log10(clipped)).astype(np.float32)


def log_mel_re_unity(audio: np.ndarray, sample_rate_hz: int, settings: FeatureSettings) -> np.ndarray:
    """dB-re-unity log-mel of audio whose sample rate must equal `settings.sample_rate_hz`."""
    if int(sample_rate_hz) != settings.sample_rate_hz:
        raise ConfigError(
            f"audio at {sample_rate_hz} Hz given to features set for {settings.sample_rate_hz} Hz: "
            "load it with target_sample_rate_hz=settings.sample_rate_hz"
        )
    return power_to_db_re_unity(mel_power(audio, settings), settings)


def reference_db(settings: FeatureSettings, db_re_unity: np.ndarray | None = None) -> float:
    """The reference in dB re unity for one item: its own maximum, a constant, or the frozen global maximum."""
    if settings.db_reference == "per_clip_max":
        if db_re_unity is None:
            raise ValueError("per_clip_max needs the item's dB matrix")
        return float(np.max(db_re_unity))
    if settings.db_reference == "fixed":
        return float(settings.db_per_decade * np.log10(settings.fixed_reference))
    if settings.dataset_max_reference is None:
        raise ConfigError(
            "db_reference='dataset_max' needs dataset_max_reference: compute it over the training partition "
            "with compute_dataset_max_reference() and freeze it into the settings"
        )
    return float(settings.db_per_decade * np.log10(max(settings.dataset_max_reference, AMIN_POWER)))


def apply_reference_and_floor(db_re_unity: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """Express one item's dB-re-unity matrix relative to the reference and clip it at the floor.

    With compression aisfx_log1p the cached matrix is already final: it is returned as float32."""
    if settings.compression == "aisfx_log1p":
        return np.asarray(db_re_unity, dtype=np.float32)
    relative = db_re_unity - reference_db(settings, db_re_unity)
    return np.maximum(relative, settings.floor_db).astype(np.float32)


def log_mel(audio: np.ndarray, sample_rate_hz: int, settings: FeatureSettings) -> np.ndarray:
    """Log-mel `(n_mels, frames)` in dB relative to the settings' reference, floored at `floor_db`."""
    return apply_reference_and_floor(log_mel_re_unity(audio, sample_rate_hz, settings), settings)


def compute_dataset_max_reference(training_db_re_unity: Iterable[np.ndarray], settings: FeatureSettings) -> float:
    """The global maximum (as a power or magnitude, like `fixed_reference`) over the training items.

    Pass the training partition only; freeze the result with
    `settings.with_updates(dataset_max_reference=value)`.
    """
    maximum_db = -np.inf
    count = 0
    for matrix in training_db_re_unity:
        maximum_db = max(maximum_db, float(np.max(matrix)))
        count += 1
    if count == 0:
        raise ConfigError("dataset_max needs at least one training item")
    return float(10.0 ** (maximum_db / settings.db_per_decade))


def log_mel_re_unity_batch_librosa(waveforms: list[np.ndarray], settings: FeatureSettings) -> list[np.ndarray]:
    """Reference implementation (one librosa call per waveform), kept for tests and benchmarks."""
    return [power_to_db_re_unity(mel_power(waveform, settings), settings) for waveform in waveforms]
