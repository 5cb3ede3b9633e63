"""Real-sized generated datasets in the ESC-50 and EmoDB layouts, for timing recipes end to end.

    python benchmarks/generated_layouts.py esc50 OUT --categories 10   # 400 clips (ESC-10 size), 5 s at 44.1 kHz
    python benchmarks/generated_layouts.py esc50 OUT --categories 50   # 2,000 clips (ESC-50 size)
    python benchmarks/generated_layouts.py emodb OUT                   # 535 recordings, 10 speakers, 16 kHz, 1-9 s

Not silence and not trivially separable: every ESC-50 category has its own sound model (a harmonic event with a
class pitch range, a band of noise, an amplitude-modulation rate, an event density) drawn with per-clip jitter over
background noise at a random SNR, so the classes overlap somewhat, as real ones do. EmoDB recordings are
speech-like: a glottal pulse train with a pitch contour (speaker base pitch, emotion shift and range), shaped by
formant resonators that move per syllable, with syllable envelopes; durations follow the emotion (sadness and
boredom slower) between 1 and 9 s. EmoDB's real counts per emotion (127 anger ... 46 disgust) and its ten speaker
codes are used. These timings say how long a recipe takes on data of the real size and layout, not how accurate it is.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

ESC50_SAMPLE_RATE_HZ = 44100
EMODB_SAMPLE_RATE_HZ = 16000
EMODB_SPEAKERS = ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")
EMODB_COUNTS = {"W": 127, "L": 81, "E": 46, "A": 69, "F": 71, "T": 62, "N": 79}  # 535 in all, as in EmoDB
EMODB_TEXTS = ("a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10")


def _event_sound(rng: np.random.Generator, model: dict[str, float], samples: int, sample_rate_hz: int) -> np.ndarray:
    time_s = np.arange(samples) / sample_rate_hz
    pitch_hz = model["pitch_hz"] * rng.uniform(0.8, 1.25)
    harmonics = sum(np.sin(2 * np.pi * k * pitch_hz * time_s + rng.uniform(0, 2 * np.pi)) / k**model["rolloff"]
                    for k in range(1, int(model["harmonics"]) + 1))
    noise = rng.standard_normal(samples)
    centre = model["noise_hz"] * rng.uniform(0.8, 1.25) / (sample_rate_hz / 2)
    pole = 0.97 * np.exp(1j * np.pi * min(centre, 0.95))  # a two-pole resonator: a band of noise around the centre
    band = lfilter([1.0], [1.0, -2 * pole.real, abs(pole) ** 2], noise)
    band /= np.max(np.abs(band)) + 1e-9
    modulation = 0.5 * (1 + np.sin(2 * np.pi * model["am_hz"] * rng.uniform(0.8, 1.25) * time_s))
    return model["tonal"] * harmonics / (np.max(np.abs(harmonics)) + 1e-9) + (1 - model["tonal"]) * band * modulation


def esc50_clip(rng: np.random.Generator, model: dict[str, float], duration_s: float = 5.0,
               sample_rate_hz: int = ESC50_SAMPLE_RATE_HZ) -> np.ndarray:
    samples = int(duration_s * sample_rate_hz)
    signal = np.zeros(samples)
    for _ in range(max(1, rng.poisson(model["events"]))):
        length = int(rng.uniform(0.2, 2.5) * sample_rate_hz)
        start = int(rng.integers(0, max(1, samples - length)))
        envelope = np.exp(-np.arange(length) / (sample_rate_hz * rng.uniform(0.05, 1.0)))
        signal[start:start + length] += rng.uniform(0.3, 1.0) * envelope * _event_sound(rng, model, length, sample_rate_hz)
    snr_db = rng.uniform(5, 30)
    background = rng.standard_normal(samples) * np.sqrt(np.mean(signal**2) / 10 ** (snr_db / 10))
    mixed = signal + background
    return (0.8 * mixed / np.max(np.abs(mixed))).astype(np.float32)


def make_esc50(root: Path, categories: int = 50, clips_per_category: int = 40, seed: int = 0) -> Path:
    """`audio/{fold}-{src_file}-{take}-{target}.wav` + `meta/esc50.csv`: 40 clips per category, 8 per fold,
    cut from source recordings of 1-3 takes (clips of one source share a group)."""
    rng = np.random.default_rng(seed)
    audio = _mkdir(root / "audio")
    rows = []
    for target in range(categories):
        model = {"pitch_hz": rng.uniform(80, 4000), "harmonics": rng.integers(1, 12), "rolloff": rng.uniform(0.5, 2.0),
                 "noise_hz": rng.uniform(200, 15000), "am_hz": rng.uniform(0.5, 30), "tonal": rng.uniform(0, 1),
                 "events": rng.uniform(1, 6)}
        for fold in range(1, 6):
            per_fold = clips_per_category // 5
            while per_fold > 0:
                takes = min(per_fold, int(rng.integers(1, 4)))
                src_file = f"{rng.integers(1, 999999):06d}"
                for take in "ABC"[:takes]:
                    filename = f"{fold}-{src_file}-{take}-{target}.wav"
                    sf.write(audio / filename, esc50_clip(rng, model), ESC50_SAMPLE_RATE_HZ, subtype="PCM_16")
                    rows.append([filename, fold, target, f"category{target:02d}", "False", src_file, take])
                per_fold -= takes
    _mkdir(root / "meta")
    with (root / "meta" / "esc50.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["filename", "fold", "target", "category", "esc10", "src_file", "take"])
        writer.writerows(rows)
    return root


def speech_like(rng: np.random.Generator, base_pitch_hz: float, pitch_shift: float, pitch_range: float,
                duration_s: float, sample_rate_hz: int = EMODB_SAMPLE_RATE_HZ) -> np.ndarray:
    """Voiced syllables: a pulse train with a wandering pitch contour through 3 formant resonators, with pauses."""
    samples = int(duration_s * sample_rate_hz)
    syllables = max(2, int(duration_s * rng.uniform(3, 5)))
    bounds = np.sort(rng.integers(0, samples, size=syllables - 1))
    edges = np.concatenate([[0], bounds, [samples]])
    contour = base_pitch_hz * pitch_shift * 2 ** (pitch_range * np.interp(
        np.arange(samples), np.linspace(0, samples, syllables + 1), rng.standard_normal(syllables + 1)))
    phase = np.cumsum(contour) / sample_rate_hz
    source = (np.diff(np.floor(phase), prepend=0) > 0).astype(float) + 0.02 * rng.standard_normal(samples)
    out = np.zeros(samples)
    for start, stop in zip(edges[:-1], edges[1:]):
        if stop - start < 200:
            continue
        segment = source[start:stop]
        for formant_hz in (rng.uniform(300, 900), rng.uniform(900, 2500), rng.uniform(2500, 3500)):
            pole = 0.97 * np.exp(2j * np.pi * formant_hz / sample_rate_hz)
            segment = segment + lfilter([1.0], [1.0, -2 * pole.real, abs(pole) ** 2], source[start:stop]) * 0.05
        voiced = rng.random() > 0.15
        envelope = np.sin(np.linspace(0, np.pi, stop - start)) ** 0.5 * (1.0 if voiced else 0.02)
        out[start:stop] = segment * envelope
    out += 0.003 * rng.standard_normal(samples)
    return (0.7 * out / np.max(np.abs(out))).astype(np.float32)


def make_emodb(root: Path, seed: int = 0) -> Path:
    """`wav/{speaker}{text}{emotion}{version}.wav`: 535 recordings over 10 speakers with EmoDB's emotion counts."""
    rng = np.random.default_rng(seed)
    folder = _mkdir(root / "wav")
    emotions = {"W": (1.3, 0.5, 0.8), "L": (0.9, 0.15, 1.3), "E": (1.0, 0.3, 1.2), "A": (1.4, 0.4, 0.9),
                "F": (1.3, 0.5, 1.0), "T": (0.85, 0.15, 1.5), "N": (1.0, 0.2, 1.0)}  # pitch shift, range (octaves), length factor
    base_pitch_hz = {speaker: rng.uniform(90, 140) if i % 2 else rng.uniform(170, 260) for i, speaker in enumerate(EMODB_SPEAKERS)}
    names = set()
    for emotion, count in EMODB_COUNTS.items():
        shift, spread, length = emotions[emotion]
        for n in range(count):
            speaker = EMODB_SPEAKERS[n % len(EMODB_SPEAKERS)]
            text = EMODB_TEXTS[(n // len(EMODB_SPEAKERS)) % len(EMODB_TEXTS)]
            version = "abcdefghij"[n // (len(EMODB_SPEAKERS) * len(EMODB_TEXTS))]
            name = f"{speaker}{text}{emotion}{version}"
            assert name not in names
            names.add(name)
            duration_s = float(np.clip(rng.lognormal(np.log(2.4 * length), 0.35), 1.0, 9.0))
            signal = speech_like(rng, base_pitch_hz[speaker], shift * rng.uniform(0.9, 1.1), spread, duration_s)
            sf.write(folder / f"{name}.wav", signal, EMODB_SAMPLE_RATE_HZ, subtype="PCM_16")
    return root


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("layout", choices=("esc50", "emodb"))
    parser.add_argument("out", type=Path)
    parser.add_argument("--categories", type=int, default=50, help="ESC-50 categories (40 clips each): 10 or 50")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.layout == "esc50":
        make_esc50(args.out, args.categories, seed=args.seed)
    else:
        make_emodb(args.out, seed=args.seed)
    print(args.out)


if __name__ == "__main__":
    main()
