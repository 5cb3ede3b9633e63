"""Generated datasets for the training tests: tones vs noise under FSDD and EmoDB naming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def melody(rng: np.random.Generator, samples: int, sample_rate_hz: int, min_hz: float, max_hz: float) -> np.ndarray:
    """A few random notes in a row (phase-continuous): every clip its own tune. Single steady sines would be
    indistinguishable from pitch-shifted copies of each other, and the training leak audit rightly flags them."""
    notes = rng.uniform(min_hz, max_hz, size=int(rng.integers(3, 6)))
    frequency_hz = notes[np.minimum((np.arange(samples) * len(notes)) // samples, len(notes) - 1)]
    return np.sin(2 * np.pi * np.cumsum(frequency_hz) / sample_rate_hz)


def tone_or_noise(kind: int, rng: np.random.Generator, sample_rate_hz: int, duration_s: float) -> np.ndarray:
    """Class 0: a few random notes (300-1500 Hz); class 1: white noise; both at random level."""
    time_s = np.arange(int(sample_rate_hz * duration_s)) / sample_rate_hz
    level = 10 ** (rng.uniform(-20, -6) / 20)
    if kind == 0:
        signal = melody(rng, time_s.size, sample_rate_hz, 300, 1500)
    else:
        signal = rng.standard_normal(time_s.size) * 0.5
    return (level * signal).astype(np.float32)


def make_fsdd(root: Path, speakers: int = 4, takes: int = 6, sample_rate_hz: int = 8000, seed: int = 0) -> Path:
    """`recordings/{digit}_{speaker}_{take}.wav`: digit 0 files are tones, digit 1 files are noise."""
    rng = np.random.default_rng(seed)
    folder = root / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    for speaker in range(speakers):
        for digit in (0, 1):
            for take in range(takes):
                duration_s = rng.uniform(0.3, 0.6)
                sf.write(folder / f"{digit}_spk{speaker}_{take}.wav", tone_or_noise(digit, rng, sample_rate_hz, duration_s), sample_rate_hz)
    return root


def make_emodb(root: Path, speakers: tuple[str, ...] = ("03", "08", "09"), sample_rate_hz: int = 16000, seed: int = 0) -> Path:
    """`wav/{speaker}{text}{emotion}{version}.wav` with anger (W) as tones and sadness (T) as noise."""
    rng = np.random.default_rng(seed)
    folder = root / "wav"
    folder.mkdir(parents=True, exist_ok=True)
    for speaker in speakers:
        for text in ("a01", "a02", "a04", "b01", "b02"):
            for kind, emotion in enumerate("WT"):
                sf.write(folder / f"{speaker}{text}{emotion}a.wav", tone_or_noise(kind, rng, sample_rate_hz, rng.uniform(0.3, 0.5)), sample_rate_hz)
    return root


def log_mel_dataset(count: int, seed: int, sample_rate_hz: int = 8000, random_labels: bool = False):
    """(dB-re-unity matrices, labels) of `count` generated clips, labels alternating tone (0) / noise (1).

    With `random_labels`, labels are drawn at random instead (nothing to learn: a model can only memorise).
    """
    from sonolab.audio.features import FeatureSettings, log_mel

    settings = FeatureSettings(sample_rate_hz=sample_rate_hz, n_fft=256, hop_length_samples=128, n_mels=24)
    rng = np.random.default_rng(seed)
    matrices, labels = [], []
    for index in range(count):
        kind = index % 2
        audio = tone_or_noise(kind, rng, sample_rate_hz, rng.uniform(0.3, 0.5))
        matrices.append(log_mel(audio, sample_rate_hz, settings))
        labels.append(int(rng.integers(0, 2)) if random_labels else kind)
    return matrices, labels, settings
