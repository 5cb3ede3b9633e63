"""The kinds of copy the leakage audit must recognise, as reproducible transforms of a clip.

Used by `benchmarks/leak_audit.py` and the tests to plant copies; each returns the copy, its sample
rate, the soundfile subtype to save it with, and what was done (lag, pitch, tempo) for checking.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import soundfile as sf

from sonolab.audio.augment import exponential_decay_impulse_response
from sonolab.audio.io import resample


@dataclass
class Copy:
    samples: np.ndarray  # mono float32
    sample_rate_hz: int
    subtype: str = "FLOAT"
    lag_s: float = 0.0  # where the copy's first sample was in the source (positive: the copy starts later in it)
    pitch_semitones: float = 0.0
    tempo_ratio: float = 1.0  # copy duration / source duration (1 / stretch rate)
    notes: dict[str, float] = field(default_factory=dict)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) or 1e-12


def shift_trim(c: Copy, rng: np.random.Generator) -> Copy:
    """Cut 5-20% of the clip off the start (at least 25 ms) and up to 10% off the end (a re-cut)."""
    n = c.samples.size
    start = int(max(0.025 * c.sample_rate_hz, rng.uniform(0.05, 0.2) * n))
    end = n - int(rng.uniform(0.0, 0.1) * n)
    c.samples = c.samples[start:end]
    c.lag_s += start / c.sample_rate_hz
    return c


def polarity(c: Copy, rng: np.random.Generator) -> Copy:
    c.samples = -c.samples
    return c


def gain(c: Copy, rng: np.random.Generator) -> Copy:
    c.samples = c.samples * np.float32(10 ** (rng.choice([-1, 1]) * rng.uniform(3, 12) / 20))
    return c


def white_noise(c: Copy, rng: np.random.Generator, snr_db: float | None = None) -> Copy:
    """White noise at 10-20 dB SNR (over the whole clip; `snr_db`: at that SNR)."""
    snr_db = rng.uniform(10, 20) if snr_db is None else snr_db
    noise = rng.standard_normal(c.samples.size).astype(np.float32)
    c.samples = c.samples + noise * np.float32(_rms(c.samples) / _rms(noise) * 10 ** (-snr_db / 20))
    c.notes["snr_db"] = snr_db
    return c


def reverb(c: Copy, rng: np.random.Generator, rt60_s: float | None = None) -> Copy:
    """Convolution with a generated room response decaying 60 dB in 0.3-0.6 s (`rt60_s`: in that time; direct path
    included)."""
    from scipy.signal import fftconvolve

    rt60_s = rng.uniform(0.3, 0.6) if rt60_s is None else rt60_s
    response = exponential_decay_impulse_response(rt60_s, c.sample_rate_hz, rng)
    wet = fftconvolve(c.samples, response)[: c.samples.size]
    c.samples = (wet * (_rms(c.samples) / _rms(wet))).astype(np.float32)
    c.notes["rt60_s"] = rt60_s
    return c


def resampled(c: Copy, rng: np.random.Generator) -> Copy:
    """Half the rate (44.1 -> 22.05 kHz) for wide-band clips, else to 11.025 or 6 kHz."""
    target = c.sample_rate_hz // 2 if c.sample_rate_hz >= 22050 else int(rng.choice([11025, 6000]))
    c.samples = resample(c.samples[None, :], c.sample_rate_hz, target)[0]
    c.sample_rate_hz = target
    return c


def pitch_shift(c: Copy, rng: np.random.Generator, semitones: float | None = None) -> Copy:
    """librosa's phase-vocoder pitch shift by 0.5-2 semitones up or down (or by `semitones`)."""
    import librosa

    semitones = float(rng.choice([-1, 1]) * rng.uniform(0.5, 2.0)) if semitones is None else semitones
    c.samples = librosa.effects.pitch_shift(c.samples, sr=c.sample_rate_hz, n_steps=semitones).astype(np.float32)
    c.pitch_semitones += semitones
    return c


def time_stretch(c: Copy, rng: np.random.Generator, rate: float | None = None) -> Copy:
    """librosa's phase-vocoder time stretch at a rate of 0.85-1.15 (at least 3% away from 1; or at `rate`: 0.9 plays
    at 0.9x speed, lasting 1/0.9 as long)."""
    import librosa

    rate = float(rng.choice([-1, 1]) * rng.uniform(0.03, 0.15) + 1.0) if rate is None else rate
    c.samples = librosa.effects.time_stretch(c.samples, rate=rate).astype(np.float32)
    c.tempo_ratio /= rate
    return c


def mp3(c: Copy, rng: np.random.Generator) -> Copy:
    """MP3 encode/decode round trip (libsndfile's LAME encoder, variable bit rate)."""
    supported = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
    if c.sample_rate_hz not in supported:  # an encoder resamples to a rate MPEG supports
        target = min((r for r in supported if r >= c.sample_rate_hz), default=48000)
        c.samples = resample(c.samples[None, :], c.sample_rate_hz, target)[0]
        c.sample_rate_hz = target
    buffer = io.BytesIO()
    peak = float(np.max(np.abs(c.samples))) or 1.0
    scale = min(1.0, 0.99 / peak)
    sf.write(buffer, c.samples * scale, c.sample_rate_hz, format="MP3", compression_level=float(rng.uniform(0.3, 0.9)))
    buffer.seek(0)
    decoded, rate = sf.read(buffer, dtype="float32")
    c.samples = (decoded.reshape(decoded.shape[0], -1).mean(axis=1) / scale).astype(np.float32)
    c.sample_rate_hz = int(rate)
    return c


def bit_depth(c: Copy, rng: np.random.Generator) -> Copy:
    """Saved as 8-bit PCM."""
    peak = float(np.max(np.abs(c.samples))) or 1.0
    if peak > 0.99:
        c.samples = c.samples * np.float32(0.99 / peak)
    c.subtype = "PCM_U8"
    return c


KINDS: dict[str, Callable[[Copy, np.random.Generator], Copy]] = {
    "shift_trim": shift_trim, "polarity": polarity, "gain": gain, "noise_10_20db": white_noise, "reverb": reverb,
    "resample": resampled, "pitch": pitch_shift, "stretch": time_stretch, "mp3": mp3, "bit_depth": bit_depth,
}
ORDER = ("shift_trim", "stretch", "pitch", "reverb", "gain", "polarity", "resample", "noise_10_20db", "mp3", "bit_depth")


def make_copy(samples: np.ndarray, sample_rate_hz: int, kinds: tuple[str, ...], rng: np.random.Generator) -> Copy:
    """Apply `kinds` in a fixed, realistic order (edit, then effects, then noise, then encoding)."""
    c = Copy(np.asarray(samples, dtype=np.float32).copy(), int(sample_rate_hz))
    for name in sorted(kinds, key=ORDER.index):
        c = KINDS[name](c, rng)
    return c


# --- the issue's table: each kind at the one setting it names (the hardest end of its range) -------------------

def recut_25ms(c: Copy, rng: np.random.Generator) -> Copy:
    """Shifted by 25 ms (cut off the start) and trimmed (5 % off the end)."""
    start = int(round(0.025 * c.sample_rate_hz))
    c.samples = c.samples[start: c.samples.size - int(0.05 * c.samples.size)]
    c.lag_s += start / c.sample_rate_hz
    return c


# (names without "+": the benchmark reads a "+" as a pair of kinds)
ISSUE_TABLE: dict[str, Callable[[Copy, np.random.Generator], Copy]] = {
    "recut_25ms": recut_25ms,
    "polarity": polarity,
    "noise_10db": partial(white_noise, snr_db=10.0),
    "reverb_0.6s": partial(reverb, rt60_s=0.6),
    "resample_half": resampled,
    "pitch_up_2st": partial(pitch_shift, semitones=2.0),
    "stretch_0.9x": partial(time_stretch, rate=0.9),
    "mp3": mp3,
}


def make_table_copy(samples: np.ndarray, sample_rate_hz: int, kind: str, rng: np.random.Generator) -> Copy:
    """A copy of one kind of `ISSUE_TABLE` (the settings the leak issue's table names)."""
    return ISSUE_TABLE[kind](Copy(np.asarray(samples, dtype=np.float32).copy(), int(sample_rate_hz)), rng)
