"""Generated "mastered" test material: loud, heavily compressed, sample peaks at 0 dBFS.

Used by the benchmark and the tests to check `eq apply` where real mastered music is hard: little
headroom, a true peak above the sample peak, loudness around -9 LUFS. Two kinds: pink noise and a
synthetic song-like mix (kick, snare, hi-hat, bass line, chords), both through the same hard
compressor and peak normaliser.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from sonolab.semantic_eq.demo import pink_noise


def master(audio: np.ndarray, sample_rate_hz: int, threshold_db: float = -24.0, ratio: float = 8.0, window_s: float = 0.005, clip_percentile: float = 99.9) -> np.ndarray:
    """A hard 'mastering' chain: fast RMS compressor (linked), then clipping of the top 0.1 % of
    samples and normalisation so the sample peak is exactly 0 dBFS. Returns float32."""
    audio = np.asarray(audio, dtype=np.float64)
    window = max(1, int(window_s * sample_rate_hz))
    power = signal.lfilter([1.0 / window], [1.0, -(1.0 - 1.0 / window)], np.mean(audio**2, axis=0))
    level_db = 10.0 * np.log10(np.maximum(power, 1e-12))
    over_db = np.maximum(level_db - threshold_db, 0.0)
    compressed = audio * 10.0 ** (-(over_db * (1.0 - 1.0 / ratio)) / 20.0)
    limit = np.percentile(np.abs(compressed), clip_percentile)
    clipped = np.clip(compressed, -limit, limit)
    return (clipped / np.max(np.abs(clipped))).astype(np.float32)


def mastered_pink_noise(duration_s: float, sample_rate_hz: int = 44100, seed: int = 0) -> np.ndarray:
    """Stereo pink noise through `master`."""
    return master(pink_noise(duration_s, sample_rate_hz, channels=2, seed=seed, rms=0.1), sample_rate_hz)


def song_like_mix(duration_s: float, sample_rate_hz: int = 44100, seed: int = 0, tempo_bpm: float = 120.0) -> np.ndarray:
    """A synthetic stereo pop-like mix (kick, snare, hi-hat, bass, chords) through `master`."""
    rng = np.random.default_rng(seed)
    samples = int(round(duration_s * sample_rate_hz))
    time_s = np.arange(samples) / sample_rate_hz
    beat_s = 60.0 / tempo_bpm
    mix = np.zeros((2, samples))

    def hits(every_s: float, offset_s: float, length_s: float) -> list[tuple[int, int]]:
        starts = np.arange(offset_s, duration_s, every_s)
        return [(int(s * sample_rate_hz), min(samples, int((s + length_s) * sample_rate_hz))) for s in starts]

    for start, stop in hits(beat_s, 0.0, 0.35):  # kick: pitch-dropping sine
        local = time_s[start:stop] - time_s[start]
        frequency_hz = 50.0 + 90.0 * np.exp(-local / 0.03)
        mix[:, start:stop] += 0.9 * np.sin(2 * np.pi * np.cumsum(frequency_hz) / sample_rate_hz) * np.exp(-local / 0.12)
    for start, stop in hits(2 * beat_s, beat_s, 0.2):  # snare: noise burst + tone
        local = time_s[start:stop] - time_s[start]
        burst = rng.standard_normal((2, stop - start)) * np.exp(-local / 0.05)
        mix[:, start:stop] += 0.5 * burst + 0.3 * np.sin(2 * np.pi * 190.0 * local) * np.exp(-local / 0.08)
    hat_filter = signal.butter(4, 7000.0, "highpass", fs=sample_rate_hz, output="sos")
    for start, stop in hits(beat_s / 2, 0.0, 0.05):  # hi-hat: high-passed noise, panned
        local = time_s[start:stop] - time_s[start]
        burst = signal.sosfilt(hat_filter, rng.standard_normal(stop - start)) * np.exp(-local / 0.015)
        mix[0, start:stop] += 0.35 * burst
        mix[1, start:stop] += 0.2 * burst
    roots_hz = [55.0, 43.65, 49.0, 41.2]  # A, F, G, E
    bar_s = 4 * beat_s
    chord = np.zeros(samples)
    bass = np.zeros(samples)
    for index, start_s in enumerate(np.arange(0.0, duration_s, bar_s)):
        start, stop = int(start_s * sample_rate_hz), min(samples, int((start_s + bar_s) * sample_rate_hz))
        local = time_s[start:stop] - time_s[start]
        root_hz = roots_hz[index % len(roots_hz)]
        bass[start:stop] = signal.sawtooth(2 * np.pi * root_hz * local) * 0.4
        for interval in (4.0, 5.0, 6.0 * 1.1892):  # a triad two octaves up, sawtooth pads
            chord[start:stop] += 0.12 * signal.sawtooth(2 * np.pi * root_hz * interval * local + rng.uniform(0, 6.28))
    bass = signal.sosfilt(signal.butter(2, 300.0, "lowpass", fs=sample_rate_hz, output="sos"), bass)
    chord = signal.sosfilt(signal.butter(2, 5000.0, "lowpass", fs=sample_rate_hz, output="sos"), chord)
    mix += bass[None, :]
    mix[0] += chord
    mix[1] += np.roll(chord, int(0.012 * sample_rate_hz))  # a little stereo width
    return master(mix, sample_rate_hz)
