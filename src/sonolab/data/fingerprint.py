"""Content fingerprints of audio for the copy detector (`sonolab.data.content_index`).

Every file is decoded, mixed to mono and resampled to one fixed internal rate (so a copy resampled to
another rate gives the same fingerprint), then turned into:

- a log-frequency power spectrogram (36 bins per octave): on this axis a pitch shift is a translation
  and a time stretch a scaling of the time axis, which the index searches explicitly;
- its strongest spectral peaks (landmarks), from which the index builds pitch-invariant peak-pair hashes;
- for short clips (up to `waveform_max_s`), the waveform itself at `waveform_rate_hz` (float16, peak 1): the
  index confirms copies of short sounds on waveform phase coherence, which tells a copy from a second take
  of the same word far better than any magnitude spectrogram (see `sonolab.data.content_index`).

A short sound in a longer file of silence (`trim_db` under the clip's loudest frame, e.g. the digital silence that
pads many ESC-50 clips to 5 s) is cut out first (`trim_silence`), so that it is fingerprinted, and confirmed, as the
short sound it is; `Fingerprint.start_s` keeps where it starts in the file.

The spectrogram is stored as 8-bit dB above a floor `dynamic_range_db` under the clip's loud level, so
low-level additive noise and reverberation tails fall under the floor and the cache stays small.

Hand-written on numpy/scipy/librosa: Chromaprint (`pyacoustid`) needs an external binary and its
chroma hashes are neither pitch- nor tempo-invariant; audfprint is not maintained on PyPI, and neither
offers the pitch/tempo search nor the fine confirmation that tells a copy from a second take.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import ndimage

from sonolab.audio.io import load_audio, resample, to_mono
from sonolab.data.content_hash import samples_hash
from sonolab.errors import AudioLoadError

DB_STEP = 0.25  # dB per uint8 step of the stored spectrogram


@dataclass(frozen=True)
class FingerprintSettings:
    """How fingerprints are computed; a cache built with other settings is recomputed, never reused."""

    sample_rate_hz: int = 16000
    n_fft: int = 1024
    hop_length_samples: int = 128  # 8 ms frames
    min_frequency_hz: float = 150.0
    max_frequency_hz: float = 7600.0
    bins_per_octave: int = 36
    dynamic_range_db: float = 60.0  # cells this far under the clip's loud level (99th percentile) are floor
    peaks_per_s: float = 40.0
    min_peaks: int = 40
    peak_neighbourhood_frames: int = 7
    peak_neighbourhood_bins: int = 7
    waveform_max_s: float = 2.5  # clips up to this long keep their waveform (phase coherence of short clips)
    waveform_rate_hz: int = 8000  # ... at this rate (phase coherence is measured up to its Nyquist frequency)
    trim_db: float = 60.0  # a short sound's edges this far under its loudest frame are cut (the spectrogram's range) ...
    trim_max_s: float = 1.5  # ... when what is left lasts at most this long (`trim_silence`)

    def key(self) -> str:
        """A short digest of every setting (names the cache)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    @property
    def frame_s(self) -> float:
        return self.hop_length_samples / self.sample_rate_hz

    @property
    def n_bins(self) -> int:
        return int(np.floor(self.bins_per_octave * np.log2(self.max_frequency_hz / self.min_frequency_hz))) + 1


@dataclass(frozen=True)
class Fingerprint:
    """One clip's fingerprint: uint8 log-frequency dB spectrogram (frames x bins) and its peaks."""

    item_id: str
    spectrogram: np.ndarray  # uint8 (frames, bins): dB above the floor in DB_STEP steps
    peak_frames: np.ndarray  # int32 (peaks,) sorted by frame
    peak_bins: np.ndarray  # int32 (peaks,)
    duration_s: float
    samples_hash: str = ""  # exact hash of the decoded file (sonolab.data.content_hash.samples_hash)
    waveform: np.ndarray | None = None  # float16 mono at `waveform_rate_hz`, peak 1 (clips up to `waveform_max_s` only)
    start_s: float = 0.0  # where the fingerprinted part (silent edges cut) starts in the file; `duration_s` is its length

    @property
    def frames(self) -> int:
        return int(self.spectrogram.shape[0])

    @property
    def silent(self) -> bool:
        return self.peak_frames.size == 0


@lru_cache(maxsize=4)
def log_frequency_filterbank(settings: FingerprintSettings) -> np.ndarray:
    """(bins, n_fft // 2 + 1) triangular weights centred on log-spaced frequencies.

    Each triangle is at least one FFT bin wide, so the low bins (narrower than the FFT resolution)
    interpolate between FFT bins instead of coming out empty.
    """
    fft_hz = settings.sample_rate_hz / settings.n_fft
    centres_hz = settings.min_frequency_hz * 2.0 ** (np.arange(settings.n_bins) / settings.bins_per_octave)
    centres = centres_hz / fft_hz
    half_widths = np.maximum(centres * (2.0 ** (1.0 / settings.bins_per_octave) - 1.0), 1.0)
    fft_bins = np.arange(settings.n_fft // 2 + 1)[None, :]
    weights = np.maximum(0.0, 1.0 - np.abs(fft_bins - centres[:, None]) / half_widths[:, None])
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def log_frequency_db(mono: np.ndarray, settings: FingerprintSettings) -> np.ndarray:
    """(frames, bins) float32 dB above the clip's floor (0 = at or under the floor)."""
    import librosa

    if mono.size < settings.n_fft:
        mono = np.pad(mono, (0, settings.n_fft - mono.size))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # n_fft larger than a very short clip: it is zero-padded
        power = np.abs(librosa.stft(mono, n_fft=settings.n_fft, hop_length=settings.hop_length_samples, center=True)) ** 2
    banded = log_frequency_filterbank(settings) @ power  # (bins, frames)
    decibels = 10.0 * np.log10(banded + 1e-12)
    loud_db = float(np.percentile(decibels, 99.0))
    floor_db = max(loud_db - settings.dynamic_range_db, -100.0)
    return np.clip(decibels - floor_db, 0.0, None).T.astype(np.float32)


def spectral_peaks(spectrogram_db: np.ndarray, duration_s: float, settings: FingerprintSettings) -> tuple[np.ndarray, np.ndarray]:
    """The strongest local maxima (frame, bin), at most `peaks_per_s` per second (at least `min_peaks`)."""
    size = (settings.peak_neighbourhood_frames, settings.peak_neighbourhood_bins)
    local_max = ndimage.maximum_filter(spectrogram_db, size=size, mode="constant", cval=0.0)
    candidates = (spectrogram_db == local_max) & (spectrogram_db > 0.0)
    frames, bins = np.nonzero(candidates)
    keep = max(settings.min_peaks, int(round(settings.peaks_per_s * duration_s)))
    if frames.size > keep:
        strongest = np.argsort(-spectrogram_db[frames, bins], kind="stable")[:keep]
        frames, bins = frames[strongest], bins[strongest]
    order = np.lexsort((bins, frames))
    return frames[order].astype(np.int32), bins[order].astype(np.int32)


def trim_silence(mono: np.ndarray, settings: FingerprintSettings) -> tuple[np.ndarray, int]:
    """(the samples, the first kept sample): a short sound (up to `trim_max_s`) in a longer clip of silence
    without its silent edges; any other clip as it is. Frames (`n_fft` / 2 long, one hop apart) more than `trim_db`
    under the loudest one are silent; the samples are scaled to peak 1 first, so that librosa's amplitude floor
    (1e-5) lies under the threshold of any clip that is not itself near silence.

    Only short sounds are cut out: they are then confirmed by the short sounds' tests (waveform coherence and
    their thresholds, chosen on distinct takes of spoken digits, 99.9 % of them under 1.3 s), which a word padded
    to 5 s escaped (on 1,500 FSDD takes padded as ESC-50 pads, 249 pairs of distinct takes were flagged as copies,
    none once cut). A longer sound keeps its silence: the long clips' tests were chosen on such clips (generated 5 s
    clips, some with 1.5-3.5 s of sound and then digital silence; docs/benchmarks.md)."""
    import librosa

    peak = float(np.max(np.abs(mono))) or 1.0
    frame = settings.n_fft // 2
    _, (start, end) = librosa.effects.trim(mono / peak, top_db=settings.trim_db, frame_length=frame,
                                           hop_length=settings.hop_length_samples)
    start, end = int(start), int(end)
    if end - start < frame or end - start > settings.trim_max_s * settings.sample_rate_hz:
        return mono, 0
    return mono[start:end], start


def fingerprint_samples(item_id: str, mono: np.ndarray, settings: FingerprintSettings) -> Fingerprint:
    """Fingerprint mono samples already at `settings.sample_rate_hz` (their silent edges cut: `trim_silence`)."""
    mono = np.asarray(mono, dtype=np.float32)
    if mono.size == 0 or not np.any(mono != mono.flat[0]):
        empty = np.zeros(0, dtype=np.int32)
        return Fingerprint(item_id, np.zeros((0, settings.n_bins), np.uint8), empty, empty, mono.size / settings.sample_rate_hz)
    mono, start = trim_silence(mono, settings)
    duration_s = mono.size / settings.sample_rate_hz
    spectrogram_db = log_frequency_db(mono, settings)
    frames, bins = spectral_peaks(spectrogram_db, duration_s, settings)
    quantised = np.clip(np.round(spectrogram_db / DB_STEP), 0, 255).astype(np.uint8)
    return Fingerprint(item_id, quantised, frames, bins, duration_s, waveform=short_waveform(mono, settings),
                       start_s=start / settings.sample_rate_hz)


def short_waveform(mono: np.ndarray, settings: FingerprintSettings) -> np.ndarray | None:
    """The waveform kept for phase coherence (float16 at `waveform_rate_hz`, peak 1), or None for a long clip."""
    if mono.size > settings.waveform_max_s * settings.sample_rate_hz:
        return None
    low = resample(np.asarray(mono, np.float32)[None, :], settings.sample_rate_hz, settings.waveform_rate_hz)[0]
    peak = float(np.max(np.abs(low))) or 1.0
    return (low / peak).astype(np.float16)


def fingerprint_file(job: tuple[str, str, FingerprintSettings]) -> Fingerprint | tuple[str, str]:
    """Fingerprint `(item_id, path, settings)`; an undecodable file gives `(item_id, reason)` instead."""
    item_id, path, settings = job
    try:
        audio, sample_rate_hz = load_audio(Path(path))
    except AudioLoadError as error:
        return item_id, str(error)
    digest = samples_hash(audio, sample_rate_hz)
    mono = resample(to_mono(audio), sample_rate_hz, settings.sample_rate_hz).reshape(-1)
    fp = fingerprint_samples(item_id, mono, settings)
    return replace(fp, samples_hash=digest)
