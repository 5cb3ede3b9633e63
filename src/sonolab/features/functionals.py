"""The `functionals` kind: clip-level statistics of librosa frame features (a permissive ComParE-like set).

Low-level descriptors per frame (all centred, one hop): MFCCs and their deltas, spectral centroid,
bandwidth, roll-off, flatness and contrast, zero-crossing rate, log RMS energy (dB). Each gets the
functionals mean, std, the `percentiles`, the 90-10 range (first to last percentile) and the
linear-regression slope per second. With `f0=True`, `librosa.pyin` adds F0 (semitones re 27.5 Hz)
statistics over voiced frames, the voicing probability's functionals, the voiced fraction and the
voiced frames' energy mean and std. A clip without voiced frames gets 0 for its F0 statistics.

Output: float32 `(1, dim)`, finite for silence and for clips shorter than a frame (they are
zero-padded to one F0 frame). `feature_names(settings)` names every column.

Speed: pyin dominates (its Viterbi pass grows with the square of the pitch grid). Its defaults
(0.1-semitone grid, 2048-sample frames) cost ~0.2 s per second of audio; the defaults here
(0.5-semitone grid, 1024-sample frames at 16 kHz, 20 ms F0 hop, 55-600 Hz) cost ~3-5x less than a
0.25-semitone grid at a 10 ms hop and move the clip's median F0 by a median 0.25 semitone (measured on
FSDD; numbers in docs/benchmarks.md, "Feature kinds"). Set `f0=False` to skip pyin (about 10x faster).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import librosa
import numpy as np

from sonolab.audio.io import resample
from sonolab.errors import ConfigError
from sonolab.features.settings import KindSettings

EXTRACT_IN_WORKERS = True
MIN_FILES_PER_WORKER = 4  # pyin makes every clip expensive: workers pay off from a handful of files
F0_REFERENCE_HZ = 27.5  # semitone scale origin (A0), as in openSMILE's F0semitoneFrom27.5Hz
_AMIN = 1e-10


@dataclass(frozen=True)
class Settings(KindSettings):
    kind = "functionals"
    algorithm_version = 1

    sample_rate_hz: int = 16000
    n_fft: int = 512
    hop_length_samples: int = 160
    n_mels: int = 40
    n_mfcc: int = 13
    contrast_bands: int = 6
    contrast_min_frequency_hz: float = 100.0
    percentiles: tuple[float, ...] = (10.0, 50.0, 90.0)
    f0: bool = True
    f0_min_hz: float = 55.0
    f0_max_hz: float = 600.0
    f0_frame_length_samples: int = 1024
    f0_hop_length_samples: int = 320  # a multiple of hop_length_samples
    f0_resolution_semitones: float = 0.5

    def __post_init__(self) -> None:
        for name in ("sample_rate_hz", "n_fft", "hop_length_samples", "n_mels", "n_mfcc", "f0_frame_length_samples"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"functionals setting {name} must be positive, got {getattr(self, name)}")
        nyquist_hz = self.sample_rate_hz / 2
        if self.contrast_min_frequency_hz * 2 ** self.contrast_bands >= nyquist_hz:
            raise ConfigError(
                f"functionals: contrast_min_frequency_hz * 2**contrast_bands must stay below {nyquist_hz:g} Hz "
                f"(fix: lower contrast_bands or contrast_min_frequency_hz)"
            )
        if not 0 < self.f0_min_hz < self.f0_max_hz <= nyquist_hz:
            raise ConfigError(f"functionals: need 0 < f0_min_hz < f0_max_hz <= {nyquist_hz:g}")
        if self.f0 and self.f0_frame_length_samples < 2 * self.sample_rate_hz / self.f0_min_hz:
            raise ConfigError(
                f"functionals: f0_frame_length_samples {self.f0_frame_length_samples} is shorter than two periods "
                f"of f0_min_hz at {self.sample_rate_hz} Hz (fix: raise it or raise f0_min_hz)"
            )
        if self.f0_hop_length_samples <= 0 or self.f0_hop_length_samples % self.hop_length_samples:
            raise ConfigError(
                f"functionals: f0_hop_length_samples ({self.f0_hop_length_samples}) must be a positive multiple of "
                f"hop_length_samples ({self.hop_length_samples})"
            )
        if not self.percentiles or not all(0 <= p <= 100 for p in self.percentiles):
            raise ConfigError("functionals: percentiles must be a non-empty list of values in [0, 100]")


def require() -> None:
    """No optional dependency."""


def warm_up(settings: Settings) -> None:
    """Import librosa's lazily loaded modules and compile pyin's numba code (before workers fork)."""
    extract(np.zeros(settings.sample_rate_hz // 10, np.float32), settings.sample_rate_hz, settings)


def decode_sample_rate_hz(settings: Settings) -> int:
    return int(settings.sample_rate_hz)


def _functional_names(settings: Settings) -> list[str]:
    return ["mean", "std", *[f"p{p:g}" for p in settings.percentiles], "range", "slope_per_s"]


def _lld_names(settings: Settings) -> list[str]:
    names = [f"mfcc{i}" for i in range(settings.n_mfcc)] + [f"mfcc{i}_delta" for i in range(settings.n_mfcc)]
    names += ["spectral_centroid_hz", "spectral_bandwidth_hz", "spectral_rolloff_hz", "spectral_flatness"]
    names += [f"spectral_contrast{i}" for i in range(settings.contrast_bands + 1)]
    return names + ["zero_crossing_rate", "energy_db"]


def feature_names(settings: Settings) -> list[str]:
    """The name of every output column, in order."""
    names = [f"{lld}_{functional}" for lld in _lld_names(settings) for functional in _functional_names(settings)]
    if settings.f0:
        names += [f"f0_semitones_voiced_{functional}" for functional in _functional_names(settings)]
        names += [f"voicing_probability_{functional}" for functional in _functional_names(settings)]
        names += ["voiced_fraction", "energy_db_voiced_mean", "energy_db_voiced_std"]
    return names


def _functionals(rows: np.ndarray, settings: Settings, frames_per_s: float) -> np.ndarray:
    """`(n_llds, n_functionals)` statistics of `(n_llds, frames)`; an empty row set gives zeros."""
    n_functionals = len(_functional_names(settings))
    if rows.shape[1] == 0:
        return np.zeros((rows.shape[0], n_functionals))
    percentiles = np.percentile(rows, settings.percentiles, axis=1).T  # (n_llds, n_percentiles)
    spread = percentiles[:, -1] - percentiles[:, 0]
    if rows.shape[1] > 1:
        time_s = np.arange(rows.shape[1]) / frames_per_s
        centred = time_s - time_s.mean()
        slope = (rows - rows.mean(axis=1, keepdims=True)) @ centred / np.sum(centred**2)
    else:
        slope = np.zeros(rows.shape[0])
    return np.column_stack([rows.mean(axis=1), rows.std(axis=1), percentiles, spread, slope])


def _frame_features(y: np.ndarray, settings: Settings) -> np.ndarray:
    sr, n_fft, hop = settings.sample_rate_hz, settings.n_fft, settings.hop_length_samples
    power = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, center=True, pad_mode="constant")) ** 2
    magnitude = np.sqrt(power)
    mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr, n_mels=settings.n_mels), ref=1.0, amin=_AMIN, top_db=None)
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=settings.n_mfcc)
    delta = librosa.feature.delta(mfcc, width=9, mode="nearest")
    centroid = librosa.feature.spectral_centroid(S=magnitude, sr=sr, n_fft=n_fft)
    bandwidth = librosa.feature.spectral_bandwidth(S=magnitude, sr=sr, n_fft=n_fft)
    rolloff = librosa.feature.spectral_rolloff(S=magnitude, sr=sr, n_fft=n_fft)
    flatness = librosa.feature.spectral_flatness(S=magnitude, amin=_AMIN)
    contrast = librosa.feature.spectral_contrast(
        S=magnitude + _AMIN, sr=sr, n_fft=n_fft, n_bands=settings.contrast_bands, fmin=settings.contrast_min_frequency_hz
    )
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop, center=True)
    rms = librosa.feature.rms(S=magnitude, frame_length=n_fft)
    energy_db = 20.0 * np.log10(np.maximum(rms, 1e-5))
    blocks = [mfcc, delta, centroid, bandwidth, rolloff, flatness, contrast, zcr, energy_db]
    frames = min(block.shape[1] for block in blocks)
    return np.vstack([block[:, :frames] for block in blocks]).astype(np.float64)


def extract(waveform_mono: np.ndarray, sample_rate_hz: int, settings: Settings) -> np.ndarray:
    """`(1, dim)` float32 functionals of one mono clip (resampled to `settings.sample_rate_hz` if needed)."""
    y = np.asarray(waveform_mono, dtype=np.float32)
    if int(sample_rate_hz) != settings.sample_rate_hz:
        y = resample(y[np.newaxis, :], int(sample_rate_hz), settings.sample_rate_hz)[0]
    minimum = max(settings.n_fft, settings.f0_frame_length_samples if settings.f0 else 0)
    if y.shape[0] < minimum:
        y = np.pad(y, (0, minimum - y.shape[0]))
    frames_per_s = settings.sample_rate_hz / settings.hop_length_samples
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns on silence (empty pitch track, zero spectra)
        llds = _frame_features(y, settings)
        parts = [_functionals(llds, settings, frames_per_s).ravel()]
        if settings.f0:
            f0_hz, voiced, probability = librosa.pyin(
                y, fmin=settings.f0_min_hz, fmax=settings.f0_max_hz, sr=settings.sample_rate_hz,
                frame_length=settings.f0_frame_length_samples, hop_length=settings.f0_hop_length_samples,
                resolution=settings.f0_resolution_semitones, center=True, pad_mode="constant",
            )
            step = settings.f0_hop_length_samples // settings.hop_length_samples
            energy = llds[-1, ::step]  # the energy frames centred where the F0 frames are
            frames = min(energy.shape[0], f0_hz.shape[0])
            voiced = voiced[:frames] & np.isfinite(f0_hz[:frames])
            semitones = 12.0 * np.log2(np.maximum(f0_hz[:frames][voiced], 1e-3) / F0_REFERENCE_HZ)
            energy_voiced = energy[:frames][voiced]
            f0_frames_per_s = settings.sample_rate_hz / settings.f0_hop_length_samples
            parts += [
                _functionals(semitones[np.newaxis, :], settings, f0_frames_per_s).ravel(),
                _functionals(np.nan_to_num(probability[np.newaxis, :frames]), settings, f0_frames_per_s).ravel(),
                np.array([voiced.mean() if frames else 0.0,
                          energy_voiced.mean() if energy_voiced.size else 0.0,
                          energy_voiced.std() if energy_voiced.size else 0.0]),
            ]
    vector = np.concatenate(parts)
    # A safety net, not the design: every statistic above is defined for silence and single frames.
    return np.nan_to_num(vector, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)[np.newaxis, :]
