"""Waveform augmentation (audiomentations), SpecAugment masks, and offline variant materialisation.

- `AugmentSettings` + `WaveformAugmenter`: noise at an SNR range, pitch shift, time stretch, gain and
  reverb (a generated exponential-decay impulse response, or the user's IR files through
  audiomentations' ApplyImpulseResponse), reproducible from one seed.
- `spec_augment`: time and frequency masks on a log-mel, filled with the dB floor (never 0 dB).
- `spectrogram_warp`: a random frequency-axis scale (vocal-tract-length-like), time stretch and gain of a
  log-mel, cheap enough to run per item per epoch (waveform pitch shift is ~100x slower on a CPU).
- `materialise_variants`: the users' "1 original + N variations", written as WAV files whose items
  carry their parent's id, group and label, so splits keep them together and the audit can check it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from audiomentations import AddGaussianSNR, ApplyImpulseResponse, Compose, Gain, PitchShift, TimeStretch
from audiomentations.core.transforms_interface import BaseWaveformTransform
from scipy.signal import fftconvolve

from sonolab.atomic import write_text_atomic
from sonolab.audio.io import load_audio, save_audio
from sonolab.data.items import Item, Problem
from sonolab.errors import AudioLoadError, ConfigError


@dataclass(frozen=True)
class AugmentSettings:
    """Probabilities and ranges of each waveform augmentation (units in the names)."""

    noise_probability: float = 0.5
    min_snr_db: float = 10.0
    max_snr_db: float = 30.0
    pitch_probability: float = 0.5
    min_semitones: float = -2.0
    max_semitones: float = 2.0
    stretch_probability: float = 0.5
    min_stretch_rate: float = 0.9
    max_stretch_rate: float = 1.1
    gain_probability: float = 0.5
    min_gain_db: float = -6.0
    max_gain_db: float = 6.0
    reverb_probability: float = 0.3
    min_reverb_rt60_s: float = 0.2  # decay time of the generated impulse response (-60 dB)
    max_reverb_rt60_s: float = 0.8
    reverb_wet_fraction: float = 0.3  # share of reverberant signal in the mix (generated IR)
    impulse_response_paths: tuple[str, ...] = ()  # user IR files/folders: used instead of generated IRs

    def __post_init__(self) -> None:
        for name in ("noise", "pitch", "stretch", "gain", "reverb"):
            probability = getattr(self, f"{name}_probability")
            if not 0.0 <= probability <= 1.0:
                raise ConfigError(f"{name}_probability must lie in [0, 1], got {probability}")
        for low, high in (("min_snr_db", "max_snr_db"), ("min_semitones", "max_semitones"),
                          ("min_stretch_rate", "max_stretch_rate"), ("min_gain_db", "max_gain_db"),
                          ("min_reverb_rt60_s", "max_reverb_rt60_s")):
            if getattr(self, low) > getattr(self, high):
                raise ConfigError(f"{low} must not exceed {high}")
        if self.min_stretch_rate <= 0 or self.min_reverb_rt60_s <= 0:
            raise ConfigError("stretch rates and reverb RT60 must be positive")
        if not 0.0 <= self.reverb_wet_fraction <= 1.0:
            raise ConfigError("reverb_wet_fraction must lie in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["impulse_response_paths"] = list(self.impulse_response_paths)
        return payload

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> "AugmentSettings":
        values = dict(payload)
        values["impulse_response_paths"] = tuple(values.get("impulse_response_paths", ()))
        return cls(**values)


def exponential_decay_impulse_response(rt60_s: float, sample_rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room impulse response: Gaussian noise under an exponential envelope that falls
    60 dB in `rt60_s`, with a unit direct path at t=0; energy-normalised."""
    length = max(1, int(round(rt60_s * sample_rate_hz)))
    time_s = np.arange(length) / sample_rate_hz
    envelope = 10.0 ** (-3.0 * time_s / rt60_s)  # -60 dB at rt60_s
    response = rng.standard_normal(length) * envelope
    response[0] = 0.0
    response /= max(np.linalg.norm(response), 1e-12)
    response[0] = 1.0
    return response.astype(np.float32)


class GeneratedReverb(BaseWaveformTransform):
    """Reverb by convolution with a generated exponential-decay impulse response.

    Written by hand because audiomentations' ApplyImpulseResponse only reads IRs from files; here the
    IR is synthesised per call (RT60 drawn from a range) and convolved with scipy's fftconvolve.
    The output keeps the input's length and RMS.
    """

    supports_multichannel = True

    def __init__(self, min_rt60_s: float = 0.2, max_rt60_s: float = 0.8, wet_fraction: float = 0.3, p: float = 0.5) -> None:
        super().__init__(p)
        self.min_rt60_s = min_rt60_s
        self.max_rt60_s = max_rt60_s
        self.wet_fraction = wet_fraction

    def randomize_parameters(self, samples: np.ndarray, sample_rate: int) -> None:
        super().randomize_parameters(samples, sample_rate)
        if self.parameters["should_apply"]:
            self.parameters["rt60_s"] = random.uniform(self.min_rt60_s, self.max_rt60_s)
            self.parameters["ir_seed"] = random.getrandbits(32)

    def apply(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        response = exponential_decay_impulse_response(
            self.parameters["rt60_s"], sample_rate, np.random.default_rng(self.parameters["ir_seed"]))
        wet = fftconvolve(samples, response[None, :] if samples.ndim == 2 else response, mode="full")[..., : samples.shape[-1]]
        mixed = (1.0 - self.wet_fraction) * samples + self.wet_fraction * wet
        rms_in = float(np.sqrt(np.mean(samples**2)))
        rms_out = float(np.sqrt(np.mean(mixed**2)))
        return (mixed * (rms_in / rms_out if rms_out > 0 else 1.0)).astype(np.float32)


def _check_impulse_responses(paths: tuple[str, ...]) -> None:
    """Every user IR path must be an audio file or a folder holding some; else one ConfigError naming it
    (audiomentations would stop with a bare AssertionError)."""
    from sonolab.audio.io import AUDIO_EXTENSIONS

    for raw in paths:
        path = Path(raw)
        if path.is_file() and path.suffix.lower() in AUDIO_EXTENSIONS:
            continue
        if path.is_dir() and any(p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS for p in path.rglob("*")):
            continue
        raise ConfigError(f"{path}: impulse response not found (needs an audio file or a folder of them) (fix: correct impulse_response_paths, or leave it empty for generated reverb)")


class WaveformAugmenter:
    """An audiomentations Compose built from `AugmentSettings`, reproducible from `seed`.

    audiomentations draws from Python's `random` and NumPy's global generator; each call seeds both
    from this augmenter's own generator and restores their previous states afterwards, so results
    depend only on (seed, call order) and other code's randomness is left untouched.
    """

    def __init__(self, settings: AugmentSettings, seed: int = 0) -> None:
        self.settings = settings
        self._rng = np.random.default_rng(seed)
        s = settings
        reverb: BaseWaveformTransform
        if s.impulse_response_paths:
            _check_impulse_responses(s.impulse_response_paths)
            reverb = ApplyImpulseResponse(ir_path=[str(p) for p in s.impulse_response_paths], p=s.reverb_probability)
        else:
            reverb = GeneratedReverb(s.min_reverb_rt60_s, s.max_reverb_rt60_s, s.reverb_wet_fraction, p=s.reverb_probability)
        self.compose = Compose([
            Gain(min_gain_db=s.min_gain_db, max_gain_db=s.max_gain_db, p=s.gain_probability),
            PitchShift(min_semitones=s.min_semitones, max_semitones=s.max_semitones, method="librosa_phase_vocoder", p=s.pitch_probability),
            TimeStretch(min_rate=s.min_stretch_rate, max_rate=s.max_stretch_rate, leave_length_unchanged=True,
                        method="librosa_phase_vocoder", p=s.stretch_probability),
            reverb,
            AddGaussianSNR(min_snr_db=s.min_snr_db, max_snr_db=s.max_snr_db, p=s.noise_probability),
        ])

    def reseed(self, seed: int) -> None:
        """Restart the augmenter's random sequence (e.g. per data-loader worker: `seed + worker_id`)."""
        self._rng = np.random.default_rng(seed)

    def __call__(self, audio: np.ndarray, sample_rate_hz: int) -> np.ndarray:
        """Augment `(channels, samples)` or `(samples,)` float32 audio; same shape out."""
        call_seed = int(self._rng.integers(0, 2**32 - 1))
        python_state = random.getstate()
        numpy_state = np.random.get_state()
        try:
            random.seed(call_seed)
            np.random.seed(call_seed)
            samples = np.asarray(audio, dtype=np.float32)
            squeeze = samples.ndim == 2 and samples.shape[0] == 1
            out = self.compose(samples[0] if squeeze else samples, int(sample_rate_hz))
            out = np.asarray(out, dtype=np.float32)
            return out[None, :] if squeeze else out
        finally:
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def spec_augment(
    features: np.ndarray,
    rng: np.random.Generator,
    time_masks: int,
    max_time_mask_frames: int,
    frequency_masks: int,
    max_frequency_mask_bins: int,
    fill_db: float,
) -> np.ndarray:
    """SpecAugment time and frequency masks on `(n_mels, frames)` (or `(..., n_mels, frames)`).

    Masks are filled with `fill_db`, the scale's floor (the value silence takes), never 0 dB, which
    under a max reference would be the loudest possible value. Written by hand (a few lines of
    NumPy) so that the fill value and the seeded generator are explicit; returns a copy.
    """
    out = np.array(features, dtype=np.float32, copy=True)
    n_bins, n_frames = out.shape[-2], out.shape[-1]
    for _ in range(max(0, int(time_masks))):
        width = int(rng.integers(0, min(max_time_mask_frames, n_frames) + 1))
        if width:
            start = int(rng.integers(0, n_frames - width + 1))
            out[..., start:start + width] = fill_db
    for _ in range(max(0, int(frequency_masks))):
        width = int(rng.integers(0, min(max_frequency_mask_bins, n_bins) + 1))
        if width:
            start = int(rng.integers(0, n_bins - width + 1))
            out[..., start:start + width, :] = fill_db
    return out


def spectrogram_warp(
    features: np.ndarray,
    rng: np.random.Generator,
    max_frequency_scale: float,
    max_time_stretch: float,
    max_gain_db: float,
    floor_db: float,
) -> np.ndarray:
    """Warp a `(n_mels, frames)` dB matrix by random factors: mel axis scaled by 1 +/- `max_frequency_scale`
    (formants and pitch move as with another speaker's vocal tract), time axis stretched by 1 +/-
    `max_time_stretch` (the frame count changes), and a gain of +/- `max_gain_db` dB; see `warp_spectrogram`.
    """
    frequency_scale = 1.0 + float(rng.uniform(-max_frequency_scale, max_frequency_scale)) if max_frequency_scale > 0 else 1.0
    time_scale = 1.0 + float(rng.uniform(-max_time_stretch, max_time_stretch)) if max_time_stretch > 0 else 1.0
    gain_db = float(rng.uniform(-max_gain_db, max_gain_db)) if max_gain_db > 0 else 0.0
    return warp_spectrogram(features, frequency_scale, time_scale, gain_db, floor_db)


def warp_spectrogram(features: np.ndarray, frequency_scale: float, time_scale: float, gain_db: float, floor_db: float) -> np.ndarray:
    """Warp a `(n_mels, frames)` dB matrix: output band b shows input band b / `frequency_scale`, the frame count
    is multiplied by `time_scale`, and `gain_db` is added. Values stay at or above `floor_db` and floor values
    (silence) stay at the floor; bands the scaling brings in from above the top band take the floor (nothing was
    measured there).

    Written by hand: audiomentations works on waveforms and torchaudio's TimeStretch needs complex STFTs;
    this is bilinear resampling of the dB matrix (scipy.ndimage.map_coordinates).
    """
    from scipy.ndimage import map_coordinates

    matrix = np.asarray(features, dtype=np.float32)
    n_bins, n_frames = matrix.shape
    out_frames = max(1, int(round(n_frames * time_scale)))
    source_bins = np.arange(n_bins, dtype=np.float64) / frequency_scale  # output band b shows input band b / scale
    source_frames = np.linspace(0.0, n_frames - 1, out_frames) if out_frames > 1 else np.zeros(1)
    rows, columns = np.meshgrid(source_bins, source_frames, indexing="ij")
    warped = map_coordinates(matrix, [rows, columns], order=1, mode="nearest")
    warped[source_bins > n_bins - 1, :] = floor_db
    at_floor = warped <= floor_db  # silence has no level: it stays at the floor under any gain
    return np.where(at_floor, floor_db, np.maximum(warped + gain_db, floor_db)).astype(np.float32)


def _item_seed(seed: int, item_id: str) -> int:
    """A per-item seed from the run seed and the id: variants do not depend on the items' order."""
    return int.from_bytes(hashlib.sha256(f"{seed}\0{item_id}".encode()).digest()[:8], "little")


def materialise_variants(
    items: Sequence[Item],
    out_dir: Path | str,
    variants_per_item: int,
    settings: AugmentSettings,
    seed: int,
    problems: list[Problem] | None = None,
) -> list[Item]:
    """Write `variants_per_item` augmented WAV copies of each item into `out_dir`.

    Each variant's item has id `{parent}__aug{k}`, `parent_id` = the original's id and the parent's
    group, label, targets and metadata, so a grouped split keeps it with its original. Returns the
    variants only (combine them with the originals). Files that cannot be decoded are skipped and
    appended to `problems`. A `variants.csv` (folder-dataset format with a `parent` column) lists them.
    """
    if variants_per_item < 1:
        raise ConfigError(f"variants_per_item must be at least 1, got {variants_per_item}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    variants: list[Item] = []
    for item in items:
        try:
            audio, sample_rate_hz = load_audio(item.path)
        except AudioLoadError as error:
            if problems is not None:
                problems.append(Problem(str(item.path), str(error), item.item_id))
            continue
        augmenter = WaveformAugmenter(settings, seed=_item_seed(seed, item.item_id))
        safe_stem = item.item_id.replace("/", "__")
        for number in range(variants_per_item):
            path = out_dir / f"{safe_stem}__aug{number}.wav"
            save_audio(path, augmenter(audio, sample_rate_hz), sample_rate_hz, subtype="FLOAT")
            metadata = dict(item.metadata)
            metadata["variant"] = number
            variants.append(Item(f"{item.item_id}__aug{number}", path, item.label, item.group, item.item_id,
                                 dict(item.targets), metadata))
    _write_manifest(out_dir / "variants.csv", variants)
    return variants


def _write_manifest(path: Path, variants: list[Item]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["path", "label", "group", "parent"])
    for item in variants:
        writer.writerow([item.path.name, item.label or "", item.group, item.parent_id or ""])
    write_text_atomic(path, buffer.getvalue())
